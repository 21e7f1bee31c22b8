"""The detector interface every backend implements, and the errors a bad model raises."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np


class ModelError(Exception):
    """A model file that is missing, unreadable, corrupt or not an object detector; the message names the file."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"model {path}: {problem}")
        self.path = str(path)
        self.problem = problem


class FrameError(ValueError):
    """A frame the detectors cannot take (wrong dtype, shape or channel count)."""


@dataclass(frozen=True, slots=True)
class Detection:
    """One object found in one frame: ``box`` is (x1, y1, x2, y2) in pixels of that frame."""

    label: str
    score: float
    box: tuple[float, float, float, float]
    class_id: int = -1

    def as_json(self) -> dict[str, object]:
        return {"label": self.label, "score": round(self.score, 4), "box": [round(v, 1) for v in self.box]}

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


class Detector(Protocol):
    """Finds objects in one BGR uint8 picture (H, W, 3). ``name`` says backend and model (for logs and JSON)."""

    name: str
    labels: list[str]

    def detect(self, image: np.ndarray, *, min_score: float | None = None) -> list[Detection]: ...


def as_bgr(image: np.ndarray) -> np.ndarray:
    """The picture as contiguous BGR uint8 (H, W, 3): grey and BGRA are converted, anything else refused."""
    import cv2

    if not isinstance(image, np.ndarray):
        raise FrameError(f"a frame must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise FrameError(f"a frame must be uint8, got {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif not (image.ndim == 3 and image.shape[2] == 3):
        raise FrameError(f"a frame must be (H, W, 3) BGR, got shape {tuple(image.shape)}")
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise FrameError(f"a frame of {image.shape[1]}x{image.shape[0]} is too small to detect anything in")
    return image


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression (boxes x1, y1, x2, y2), best first."""
    import cv2

    if len(boxes) == 0:
        return []
    xywh = np.column_stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]])
    kept = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, iou)
    return [int(i) for i in np.asarray(kept).reshape(-1)]
