"""The annotated snapshot of a firing: boxes, track ids and the rule's zone or line drawn on the frame."""

from __future__ import annotations

import cv2
import numpy as np

from vision.rules import RuleIn
from vision.tracking import Track

RED = (0, 0, 255)
GREEN = (0, 200, 0)
YELLOW = (0, 220, 255)


def annotate(image: np.ndarray, tracks: list[Track], fired: list[Track], rule: RuleIn | None) -> np.ndarray:
    """A copy of the frame with the rule's geometry (yellow), the tracks (green) and those that fired (red)."""
    out = image.copy()
    height, width = out.shape[:2]
    if rule is not None and rule.zone:
        pts = np.array([[p[0] * width, p[1] * height] for p in rule.zone], dtype=np.int32)
        cv2.polylines(out, [pts], True, YELLOW, 2)
    if rule is not None and rule.line:
        (x1, y1), (x2, y2) = rule.line
        cv2.arrowedLine(out, (int(x1 * width), int(y1 * height)), (int(x2 * width), int(y2 * height)), YELLOW, 2)
    fired_ids = {t.track_id for t in fired}
    for t in tracks:
        color = RED if t.track_id in fired_ids else GREEN
        x1, y1, x2, y2 = (int(v) for v in t.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, 2)
        cv2.putText(out, f"{t.label} #{t.track_id}", (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1)
    return out


def jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode the snapshot as JPEG")
    return buf.tobytes()
