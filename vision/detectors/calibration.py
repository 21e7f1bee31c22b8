"""Calibration pictures for INT8 quantization: frames of a video or pictures of a folder, as BGR arrays.

Post-training INT8 quantization (NNCF, through ultralytics' OpenVINO export) measures the ranges of the
network's activations on real pictures. Give it pictures of the cameras the model will watch (a clip
recorded from them, or a folder of snapshots); the default is the bundled footage, which suits street
scenes like the demo's and nothing else.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from stream.pool import footage_path
from vision.detectors.base import ModelError

PICTURES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def calibration_frames(source: str | Path | None = None, *, count: int = 64) -> list[np.ndarray]:
    """Up to ``count`` pictures from ``source`` (a video file or a folder of pictures; default: the bundled
    footage), spread evenly over it. ModelError when it holds no readable picture."""
    path = Path(source) if source is not None else footage_path()
    if not path.exists():
        raise ModelError(path, "no such calibration video or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in PICTURES)
        step = max(1, len(files) // count)
        frames = [image for p in files[::step][:count] if (image := cv2.imread(str(p), cv2.IMREAD_COLOR)) is not None]
    else:
        frames = _video_frames(path, count)
    if not frames:
        raise ModelError(path, "holds no readable picture for calibration")
    return frames


def _video_frames(path: Path, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    try:
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        step = max(1, total // count) if total > 0 else 1
        frames: list[np.ndarray] = []
        index = 0
        while len(frames) < count:
            ok, frame = capture.read()
            if not ok:
                break
            if index % step == 0:
                frames.append(frame)
            index += 1
        return frames
    finally:
        capture.release()
