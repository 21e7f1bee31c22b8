"""Password hashing (argon2id) and the complexity rule of MLPS level 2 (等保二级).

One argon2 check takes about 0.1–0.3 s of a core (its parameters ask for 4 lanes, run as threads). The event
loop must never run one: use ``verify_password_async`` and ``hash_password_async``, which run in worker
threads (argon2 releases the GIL), at most ``configure(concurrency)`` at a time; the others wait their turn
without blocking it. The workers run at a lower scheduling priority (nice ``WORKER_NICE``, the lowest, inherited by
argon2's own lane threads), so on a busy machine the event loop and its WebSockets come first.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import string
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from dispatch.errors import InvalidInput

_hasher = PasswordHasher()

MIN_LENGTH = 8

#: Hashes starting with this can never match a password (argon2 refuses them as invalid): service
#: accounts and seeded accounts that must be reset before anyone can log in.
UNUSABLE_PREFIX = "!"

#: Letters and digits without the look-alikes (0/O, 1/l/I): a temporary password is read out and typed.
_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")


#: ``check_complexity`` as a JSON Schema pattern, so API clients know the rule (and generated tests respect it).
COMPLEXITY_PATTERN = r"^(?=[^\x00]*[A-Za-z])(?=[^\x00]*[0-9])[^\x00]{8,}$"

#: How much lower than the event loop the argon2 workers are scheduled (Linux: per thread).
WORKER_NICE = 19

#: At most this many argon2 computations at once per event loop (``configure`` sets it from the settings).
_concurrency = 2
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def configure(concurrency: int) -> None:
    """How many argon2 computations may run at once (the app factory passes ``argon2_concurrency``)."""
    global _concurrency, _executor
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    with _executor_lock:
        _concurrency = concurrency
        _gates.clear()
        if _executor is not None:
            _executor.shutdown(wait=False)
            _executor = None


def _lower_priority() -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(_concurrency, thread_name_prefix="argon2", initializer=_lower_priority)
        return _executor


def _gate() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(_concurrency)
    return gate


def check_complexity(password: str) -> None:
    """At least 8 characters with an ASCII letter and digit; raises InvalidInput otherwise."""
    if len(password) < MIN_LENGTH or not re.search(r"[A-Za-z]", password) or not re.search(r"[0-9]", password):
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
        return await asyncio.get_running_loop().run_in_executor(_pool(), verify_password, password_hash, password)


async def hash_password_async(password: str) -> str:
    """``hash_password`` in a worker thread, bounded like ``verify_password_async``."""
    async with _gate():
        return await asyncio.get_running_loop().run_in_executor(_pool(), hash_password, password)


def generate_password(length: int = 14) -> str:
    """A random password that passes ``check_complexity`` (temporary passwords, demo logins)."""
    while True:
        password = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if re.search(r"[A-Za-z]", password) and re.search(r"[0-9]", password):
            return password


def unusable_hash() -> str:
    """A password hash no password matches: the account can only be used after a reset."""
    return UNUSABLE_PREFIX + secrets.token_hex(16)
