"""The frame contract between stream/ and its consumers (vision/, snapshots, live view).

A camera's reader (stream/) decodes only when someone asks for pixels, at the rate they ask. Consumers
receive :class:`Frame` objects from an async iterator and never open a camera themselves. Pixels are
not copied per consumer: every consumer of one decoded frame sees the same read-only array.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture of one camera.

    ``image`` is BGR ``uint8`` of shape (height, width, 3), read-only (``flags.writeable`` is False);
    ``ts`` is the wall-clock time (UNIX seconds, UTC) at which the reader received it; ``index`` counts
    the decoded frames of this reader since it (re)connected.
    """

    camera_id: int
    index: int
    ts: float
    image: np.ndarray

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


class FrameSource(Protocol):
    """Anything that yields decoded frames at (at most) the rate asked for, latest-frame semantics:
    a slow consumer skips frames rather than queueing them."""

    def frames(self, fps: float) -> AsyncIterator[Frame]: ...
