"""Tracking: detections of consecutive frames become tracks with stable ids (ByteTrack, from ``trackers``).

One person walking through the picture keeps one ``track_id``, so a rule fires once per person, not once
per frame. ``trackers`` is Roboflow's maintained clean-room implementation; it takes frame timestamps,
which matters here: motion gating makes the detection rate irregular.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from vision.detectors.base import Detection


@dataclass(frozen=True, slots=True)
class Track:
    """A tracked object in the current frame; ``box`` in pixels (x1, y1, x2, y2)."""

    track_id: int
    label: str
    score: float
    box: tuple[float, float, float, float]

    def foot(self, width: int, height: int) -> tuple[float, float]:
        """The bottom centre of the box as fractions of the frame: where a person stands."""
        return ((self.box[0] + self.box[2]) / 2 / width, self.box[3] / height)

    def as_json(self) -> dict[str, object]:
        return {
            "track_id": self.track_id,
            "label": self.label,
            "score": round(self.score, 4),
            "box": [round(v, 1) for v in self.box],
        }


class Tracker:
    """ByteTrack over one camera's detections. ``lost_s``: how long a track survives unseen."""

    def __init__(self, *, fps: float = 5.0, lost_s: float = 3.0, activation: float = 0.6) -> None:
        from trackers import ByteTrackTracker

        self._tracker = ByteTrackTracker(
            lost_track_buffer=max(1, round(lost_s * fps)),
            frame_rate=fps,
            track_activation_threshold=activation,
            high_conf_det_threshold=activation,
            minimum_consecutive_frames=2,
        )
        self.labels: list[str] = []
        self._label_ids: dict[str, int] = {}

    def _class_id(self, label: str) -> int:
        if label not in self._label_ids:
            self._label_ids[label] = len(self.labels)
            self.labels.append(label)
        return self._label_ids[label]

    def update(self, detections: list[Detection], ts: float) -> list[Track]:
        import supervision as sv

        if detections:
            boxes = np.array([d.box for d in detections], dtype=np.float32)
            scores = np.array([d.score for d in detections], dtype=np.float32)
            class_ids = np.array([self._class_id(d.label) for d in detections], dtype=int)
            dets = sv.Detections(xyxy=boxes, confidence=scores, class_id=class_ids)
        else:
            dets = sv.Detections.empty()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self._tracker.update(dets, timestamp=ts)
        tracks = []
        for i in range(len(out)):
            track_id = int(out.tracker_id[i]) if out.tracker_id is not None else -1
            if track_id < 0:
                continue
            class_id = int(out.class_id[i]) if out.class_id is not None else 0
            score = float(out.confidence[i]) if out.confidence is not None else 1.0
            tracks.append(Track(track_id, self.labels[class_id], score, tuple(float(v) for v in out.xyxy[i])))
        return tracks
