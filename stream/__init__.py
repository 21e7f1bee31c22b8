"""Cameras: the registry on the map, live play, recording and lookback.

stream/ owns the camera table (position, grid, source URL, status) and, as it grows, one reader per
camera with frame fan-out to live view and recorder. It may import dispatch/ (the shared declarative
base and jurisdiction codes) and the standard library, numpy, OpenCV, PyAV and aiortc; never hub/,
vision/ or screens/.
"""
