"""Detection on camera streams: motion gate, detector backends, tracker and rules raising candidate events.

vision/ owns the detector backends and the rules that turn detections into candidate events (with a
snapshot and a clip as evidence). It may import stream/ (frames) and dispatch/ (to report an event
through the domain service), the standard library, numpy, OpenCV and onnxruntime; ultralytics only in
its optional backend; never hub/ or screens/.
"""
