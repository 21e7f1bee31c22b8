"""Password hashing (argon2id) and the complexity rule of MLPS level 2 (等保二级).

One argon2 check takes about 0.1–0.3 s of a core. The event loop must never run one: use
``verify_password_async`` and ``hash_password_async``, which run in threads (argon2 releases the GIL), at
most ``configure(concurrency)`` at a time per event loop; the others wait their turn without blocking it.
"""

from __future__ import annotations

import asyncio
import re
import weakref

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from dispatch.errors import InvalidInput

_hasher = PasswordHasher()

MIN_LENGTH = 8

#: At most this many argon2 computations at once per event loop (``configure`` sets it from the settings).
_concurrency = 2
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def configure(concurrency: int) -> None:
    """How many argon2 computations may run at once (the app factory passes ``argon2_concurrency``)."""
    global _concurrency
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    _concurrency = concurrency
    _gates.clear()


def _gate() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(_concurrency)
    return gate


def check_complexity(password: str) -> None:
    """At least 8 characters with a letter and a digit; raises InvalidInput otherwise."""
    if len(password) < MIN_LENGTH or not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        raise InvalidInput(f"password must have at least {MIN_LENGTH} characters, with letters and digits")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password_async(password_hash: str, password: str) -> bool:
    """``verify_password`` in a worker thread, bounded by ``configure``: never stalls the event loop."""
    async with _gate():
        return await asyncio.to_thread(verify_password, password_hash, password)


async def hash_password_async(password: str) -> str:
    """``hash_password`` in a worker thread, bounded like ``verify_password_async``."""
    async with _gate():
        return await asyncio.to_thread(hash_password, password)
