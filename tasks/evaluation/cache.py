"""Response cache keyed by (version digest, case input, repeat index), on local disk or S3.

Re-running an unchanged suite makes no provider calls; each repeat index is its own entry, so repeats
stay real samples.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def cache_key(digest: str, input_key: str, repeat: int) -> str:
    """sha256 of the three parts, separated unambiguously."""
    return hashlib.sha256(f"{digest}\x1f{repeat}\x1f{input_key}".encode()).hexdigest()


class ResponseCache:
    """A content-addressed store of provider responses."""

    def __init__(self, uri: str, namespace: str = "responses") -> None:
        self.uri = uri.rstrip("/") + "/" + namespace
        self.hits = 0
        self.misses = 0
        self.damaged = 0

    def _uri(self, key: str) -> str:
        return f"{self.uri}/{key[:2]}/{key}.json"

    def get(self, digest: str, input_key: str, repeat: int) -> dict[str, Any] | None:
        """The cached response, or None (a missing, unreadable or damaged entry is a miss)."""
        from registry.blobs import read_bytes

        try:
            data = read_bytes(self._uri(cache_key(digest, input_key, repeat)))
        except OSError:
            self.misses += 1
            return None
        try:
            value = json.loads(data)
        except ValueError:
            value = None
        if not isinstance(value, dict) or not isinstance(value.get("text"), str):
            self.damaged += 1  # a damaged entry is a miss (the response is fetched and rewritten), never a result
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, digest: str, input_key: str, repeat: int, value: dict[str, Any]) -> None:
        """Store a response (atomically on disk)."""
        from registry.blobs import write_bytes

        write_bytes(self._uri(cache_key(digest, input_key, repeat)), json.dumps(value, separators=(",", ":")).encode())
