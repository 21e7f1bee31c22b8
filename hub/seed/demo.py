"""The demo's logins: one password per account, generated on first use and kept in the data dir.

``gridhub demo`` prints them at every start; they live in ``<data_dir>/demo-logins.json`` (mode 0600),
so a restart prints the same ones and no two installs share a password.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dispatch.passwords import check_complexity, generate_password
from hub.seed.loader import DEMO_LOGINS

FILENAME = "demo-logins.json"


def demo_passwords(data_dir: Path, *, create: bool = True) -> dict[str, str]:
    """username → password of ``DEMO_LOGINS``, read from the data dir or (``create``) generated and stored there.

    Returns an empty dict when the file is missing and ``create`` is false.
    """
    path = data_dir / FILENAME
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(stored, dict) and {login.username for login in DEMO_LOGINS} <= stored.keys():
            for password in stored.values():
                check_complexity(password)
            return {login.username: str(stored[login.username]) for login in DEMO_LOGINS}
    if not create:
        return {}
    passwords = {login.username: generate_password() for login in DEMO_LOGINS}
    data_dir.mkdir(parents=True, exist_ok=True)
    # Created 0600 from the start: never readable by others, not even between open and chmod.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(passwords, out, ensure_ascii=False, indent=1)
    os.chmod(path, 0o600)
    return passwords
