"""Motion gating: a small grey copy of each frame against a running background (Frigate-style).

An idle camera costs one resize, one blur and one difference per frame (well under a millisecond); the
detector runs only when something moves, and only on the region where it moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]


@dataclass(slots=True)
class Motion:
    """The boxes that moved, in pixels of the full frame, and the share of the small frame that changed."""

    boxes: list[Box]
    changed: float


class MotionGate:
    """Detects motion on a ``width``-pixel-wide grey copy of the frame.

    ``threshold`` is the grey-level difference that counts as change, ``min_area`` the smallest blob (as a
    share of the small frame) that counts as motion, ``alpha`` how fast the background follows the scene.
    """

    def __init__(self, width: int = 160, threshold: int = 25, min_area: float = 0.0015, alpha: float = 0.5) -> None:
        self.width = width
        self.threshold = threshold
        self.min_area = min_area
        self.alpha = alpha
        self.background: np.ndarray | None = None
        self.shape: tuple[int, int] | None = None

    def reset(self) -> None:
        self.background = None
        self.shape = None

    def update(self, image: np.ndarray) -> Motion:
        height, width = image.shape[:2]
        small_h = max(1, round(height * self.width / width))
        small = cv2.resize(image, (self.width, small_h), interpolation=cv2.INTER_AREA)  # shrink first: cheaper
        grey = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        grey = cv2.GaussianBlur(grey, (5, 5), 0).astype(np.float32)
        if self.background is None or self.shape != (height, width):
            # First frame (or the camera changed resolution): everything is new; detect on the whole frame.
            self.background, self.shape = grey, (height, width)
            return Motion([(0.0, 0.0, float(width), float(height))], 1.0)
        diff = cv2.absdiff(grey, self.background)
        cv2.accumulateWeighted(grey, self.background, self.alpha)
        mask = (diff > self.threshold).astype(np.uint8)
        changed = float(mask.mean())
        if changed * mask.size < self.min_area * mask.size:
            return Motion([], changed)
        mask = cv2.dilate(mask, None, iterations=2)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        scale = width / self.width
        boxes: list[Box] = []
        for contour in contours:
            if cv2.contourArea(contour) < self.min_area * mask.size:
                continue
            x, y, w, h = cv2.boundingRect(contour)
            boxes.append((x * scale, y * scale, (x + w) * scale, (y + h) * scale))
        return Motion(boxes, changed)


def region_of(boxes: list[Box], width: int, height: int, *, pad: float = 0.25, min_side: int = 352) -> Box:
    """One square-ish crop around all boxes (padded), at least ``min_side`` pixels, clipped to the frame.

    When the crop would cover most of the frame, the whole frame is returned (no point cropping).
    """
    x1 = min(b[0] for b in boxes)
    y1 = min(b[1] for b in boxes)
    x2 = max(b[2] for b in boxes)
    y2 = max(b[3] for b in boxes)
    side = max(x2 - x1, y2 - y1) * (1 + 2 * pad)
    side = max(side, min_side)
    if side >= 0.8 * min(width, height):
        return (0.0, 0.0, float(width), float(height))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left = min(max(0.0, cx - side / 2), width - side)
    top = min(max(0.0, cy - side / 2), height - side)
    return (left, top, left + side, top + side)
