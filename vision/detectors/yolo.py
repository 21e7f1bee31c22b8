"""Ultralytics YOLO backend (the ``ultralytics`` extra): any ``.pt``, ``.onnx`` or OpenVINO model folder.

ultralytics is imported only here, lazily, in offline mode: no hub sync, no auto-install of requirements,
no weight download (a path that does not exist is refused before ultralytics sees it, since it would try
to fetch well-known names such as ``yolo11n.pt``). A model ``.yaml`` builds an untrained network from the
package's own configs (tests and benchmarks: the architecture without weights).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vision.detectors.base import Detection, ModelError, as_bgr

DEFAULT_MIN_SCORE = 0.5


def _offline() -> Any:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")
    try:
        from ultralytics import YOLO
        from ultralytics.utils import SETTINGS
    except ImportError:
        raise ModelError("(ultralytics)", "the ultralytics backend needs: pip install 'gridhub[ultralytics]'") from None
    with contextlib.suppress(Exception):  # settings keys differ between ultralytics versions
        SETTINGS.update({"sync": False, "hub": False})
    return YOLO


class UltralyticsDetector:
    def __init__(
        self, model: str | Path, *, min_score: float = DEFAULT_MIN_SCORE, imgsz: int = 640, threads: int | None = None
    ):
        YOLO = _offline()
        self.path = Path(model)
        is_yaml = self.path.suffix in (".yaml", ".yml")
        if not is_yaml and not self.path.exists():
            raise ModelError(self.path, "no such file or folder")
        if self.path.is_dir() and not any(self.path.glob("*.xml")):
            raise ModelError(self.path, "a model folder must be an OpenVINO export (holding a .xml)")
        if threads:
            import torch

            torch.set_num_threads(threads)
        try:
            with quiet():
                self.model = YOLO(str(self.path), task="detect", verbose=False)
            self.task = self.model.task
            if not is_yaml and self.path.suffix == ".pt":
                # Loading a .pt returns its own task; YOLO(task=…) does not override it for torch weights.
                self.task = getattr(self.model.model, "task", None) or _task_of(self.model.model) or self.task
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(self.path, f"not a readable YOLO model ({str(exc).splitlines()[0][:200]})") from None
        if self.task != "detect":
            raise ModelError(self.path, f"is a {self.task} model, not an object detector (task detect)")
        names = self.model.names
        self.labels = [str(names[i]) for i in sorted(names)] if isinstance(names, dict) else [str(n) for n in names]
        if len(self.labels) == 80 and all(n.isdigit() for n in self.labels):
            from vision.detectors.fastestdet import coco_labels

            self.labels = coco_labels()  # a network built from a COCO yaml has no names of its own
        self.min_score = min_score
        self.imgsz = imgsz
        self.name = f"ultralytics:{self.path.name}@{imgsz}"

    def detect(self, image: np.ndarray, *, min_score: float | None = None) -> list[Detection]:
        image = as_bgr(image)
        conf = self.min_score if min_score is None else min_score
        try:
            with quiet():
                result = self.model.predict(image, imgsz=self.imgsz, conf=conf, verbose=False, device="cpu")[0]
        except Exception as exc:
            raise ModelError(self.path, f"inference failed ({str(exc).splitlines()[0][:200]})") from None
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return []
        xyxy = boxes.xyxy.cpu().numpy()
        scores = boxes.conf.cpu().numpy()
        classes = boxes.cls.cpu().numpy().astype(int)
        return [
            Detection(self.labels[c] if c < len(self.labels) else str(c), float(s), tuple(float(v) for v in b), int(c))
            for b, s, c in zip(xyxy, scores, classes, strict=True)
        ]

    def export(
        self,
        fmt: str,
        *,
        imgsz: int | None = None,
        int8: bool = False,
        calibration: Sequence[np.ndarray] | None = None,
    ) -> Path:
        """Export to ``onnx`` or ``openvino`` (CPU speed) next to the model; returns the exported path.

        ``int8`` (OpenVINO only): post-training INT8 quantization with NNCF, its activation ranges measured
        on ``calibration`` (BGR pictures of the cameras to watch; default: the bundled footage, see
        :mod:`vision.detectors.calibration`). Written as ``<name>_int8_openvino_model``.
        """
        if fmt not in ("onnx", "openvino"):
            raise ValueError("export format: onnx or openvino")
        if int8 and fmt != "openvino":
            raise ValueError("int8 quantization is for the openvino format")
        size = imgsz or self.imgsz
        if not int8:
            with quiet():
                out = self.model.export(format=fmt, imgsz=size, dynamic=False, verbose=False)
            return Path(out)
        try:
            import nncf  # noqa: F401  (ultralytics would try to install it)
        except ImportError:
            raise ModelError("(nncf)", "INT8 export needs NNCF: pip install 'gridhub[ultralytics]'") from None
        from vision.detectors.calibration import calibration_frames

        pictures = list(calibration) if calibration is not None else calibration_frames()
        if not pictures:
            raise ValueError("int8 export needs at least one calibration picture")
        with tempfile.TemporaryDirectory(prefix="gridhub-calibration-") as tmp:
            data = _calibration_dataset(Path(tmp), pictures, self.labels)
            with quiet():
                out = self.model.export(
                    format="openvino", imgsz=size, dynamic=False, int8=True, data=str(data), fraction=1.0, batch=1,
                    verbose=False,
                )  # fmt: skip
        return Path(out)


def _calibration_dataset(root: Path, pictures: Sequence[np.ndarray], labels: list[str]) -> Path:
    """A dataset in ultralytics' layout (pictures only, no labels), as its INT8 export reads calibration."""
    import cv2
    import yaml

    folder = root / "images" / "val"
    folder.mkdir(parents=True)
    for i, picture in enumerate(pictures):
        cv2.imwrite(str(folder / f"{i:05d}.jpg"), as_bgr(picture))
    data = root / "data.yaml"
    names = {i: name for i, name in enumerate(labels)}
    data.write_text(yaml.safe_dump({"path": str(root), "train": "images/val", "val": "images/val", "names": names}))
    return data


def quiet() -> contextlib.AbstractContextManager[object]:
    """ultralytics prints progress on stdout: send it to stderr (stdout carries `gridhub detect`'s JSON lines)."""
    return contextlib.redirect_stdout(sys.stderr)


def _task_of(model: Any) -> str | None:
    """The task of a torch YOLO network from its head (Detect, Segment, Classify, Pose, OBB)."""
    head = type(getattr(model, "model", [None])[-1]).__name__ if hasattr(model, "model") else ""
    return {"Detect": "detect", "Segment": "segment", "Classify": "classify", "Pose": "pose", "OBB": "obb"}.get(head)
