"""Password hashing (argon2id) and the complexity rule of MLPS level 2 (等保二级)."""

from __future__ import annotations

import re
import secrets
import string

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
COMPLEXITY_PATTERN = r"^(?=[\s\S]*[A-Za-z])(?=[\s\S]*[0-9])[\s\S]{8,}$"


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


def generate_password(length: int = 14) -> str:
    """A random password that passes ``check_complexity`` (temporary passwords, demo logins)."""
    while True:
        password = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if re.search(r"[A-Za-z]", password) and re.search(r"[0-9]", password):
            return password


def unusable_hash() -> str:
    """A password hash no password matches: the account can only be used after a reset."""
    return UNUSABLE_PREFIX + secrets.token_hex(16)
