"""Response cache keyed by (version digest, case input, repeat index), on local disk or S3.

Re-running an unchanged suite makes no provider calls; each repeat index is its own entry, so repeats
stay real samples.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any


def cache_key(digest: str, input_key: str, repeat: int) -> str:
    """sha256 of the three parts, separated unambiguously."""
    return hashlib.sha256(f"{digest}\x1f{repeat}\x1f{input_key}".encode()).hexdigest()


class ResponseCache:
    """A content-addressed store of provider responses."""

    def __init__(self, uri: str, namespace: str = "responses") -> None:
        self.uri = uri
        self.s3 = uri.startswith("s3://")
        if self.s3:
            import boto3

            self.bucket, _, prefix = uri[5:].partition("/")
            self.prefix = (prefix.rstrip("/") + "/" if prefix else "") + namespace + "/"
            self.client = boto3.client("s3")
        else:
            self.root = Path(uri) / namespace
        self.hits = 0
        self.misses = 0
        self.damaged = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, digest: str, input_key: str, repeat: int) -> dict[str, Any] | None:
        """The cached response, or None."""
        key = cache_key(digest, input_key, repeat)
        try:
            if self.s3:
                data = self.client.get_object(Bucket=self.bucket, Key=f"{self.prefix}{key}.json")["Body"].read()
            else:
                data = self._path(key).read_bytes()
        except Exception:
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
        key = cache_key(digest, input_key, repeat)
        data = json.dumps(value, separators=(",", ":")).encode()
        if self.s3:
            self.client.put_object(Bucket=self.bucket, Key=f"{self.prefix}{key}.json", Body=data)
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{key}.{secrets.token_hex(4)}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
