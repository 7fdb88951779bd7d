"""Deterministic, sticky traffic routing by a stable hash of (salt, user id).

Python's ``hash()`` is salted per process, so it would route one user differently in two
workers; a sha-based bucket is the same everywhere and forever.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Arm = Literal["control", "treatment"]
BUCKETS = 10_000


def bucket(salt: str, user_id: str) -> int:
    """The user's bucket in [0, BUCKETS), stable across processes and machines."""
    digest = hashlib.blake2b(f"{salt}\x1f{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def assign_arm(salt: str, user_id: str, split: float) -> Arm:
    """Treatment when the user's bucket falls below the split.

    Monotone in ``split``: raising the split only ever moves users from control to treatment.
    """
    return "treatment" if bucket(salt, user_id) < round(split * BUCKETS) else "control"
