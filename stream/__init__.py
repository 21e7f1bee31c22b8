"""Cameras: the registry on the map, one shared reader per camera, recording and lookback.

* ``models.py`` / ``registry.py``: the camera table and its queries;
* ``sources.py``: which source URLs are read (RTSP, HTTP/MJPEG, looped file, WVP) and their redaction;
  ``wvp.py``: GB/T 28181 channels resolved through WVP-GB28181-pro;
* ``reader.py``: ``CameraReader`` (contract C4): demux in its own thread, reconnect with back-off,
  GOP cache, ``packets()`` / ``frames(fps)`` / ``latest_frame()`` / ``status()``; ``decoder.py``: decoding
  on demand; ``frames.py``: the ``Frame`` handed to consumers;
* ``pool.py``: ``ReaderPool`` (one reader per enabled camera) and ``open_source`` for ad-hoc readers.

It may import dispatch/ (the shared declarative base and jurisdiction codes) and the standard library,
numpy, OpenCV, PyAV and aiortc; never hub/, vision/ or screens/.
"""
