"""Password hashing (argon2id) and the complexity rule of MLPS level 2 (等保二级)."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from dispatch.errors import InvalidInput

_hasher = PasswordHasher()

MIN_LENGTH = 8


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
