"""Detector backends behind one interface (``Detector.detect(image) -> list[Detection]``).

* ``fastestdet`` (default): FastestDet, BSD-3, shipped in vision/models, on onnxruntime; no download.
* ``ultralytics``: any YOLO ``.pt``, ``.onnx`` or OpenVINO model directory (the ``ultralytics`` extra).

``load_detector(backend, model)`` builds one; a missing, corrupt or wrong-task model raises ModelError
naming the file. Nothing is ever fetched at run time.
"""

from __future__ import annotations

from pathlib import Path

from vision.detectors.base import Detection, Detector, FrameError, ModelError

BACKENDS = ("fastestdet", "ultralytics")

__all__ = ["BACKENDS", "Detection", "Detector", "FrameError", "ModelError", "load_detector"]


def load_detector(backend: str = "fastestdet", model: str | Path | None = None, **options: object) -> Detector:
    if backend == "fastestdet":
        from vision.detectors.fastestdet import FastestDet

        return FastestDet(model or None, **options)  # type: ignore[arg-type]
    if backend == "ultralytics":
        from vision.detectors.yolo import UltralyticsDetector

        if not model:
            raise ModelError("(none)", "the ultralytics backend needs --model PATH (.pt, .onnx or an OpenVINO folder)")
        return UltralyticsDetector(model, **options)  # type: ignore[arg-type]
    raise ValueError(f"unknown detector backend {backend!r}: one of {', '.join(BACKENDS)}")
