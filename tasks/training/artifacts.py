"""The artifact store: datasets, manifests and trained models, content-addressed by sha256.

``MODELCTL_ARTIFACTS`` is a directory or an ``s3://`` prefix (default: beside the registry). Objects are
named ``sha256/<first two hex>/<hex><suffix>`` and referred to as ``artifacts://<that key>``, so a
registered version never carries an absolute local path: any worker pointed at the same store reads
the same bytes, and every read is checked against the digest in the name.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from registry import blobs
from registry.errors import InvalidInput, StoreUnavailable

SCHEME = "artifacts://"
_KEY = re.compile(r"^sha256/([0-9a-f]{2})/([0-9a-f]{64})(\.[a-z0-9.]+)?$")


def sha256_hex(data: bytes) -> str:
    """sha256 of ``data``, 64 lowercase hex."""
    return hashlib.sha256(data).hexdigest()


class ArtifactStore:
    """Write-once, content-addressed blobs in a directory or under an S3 prefix."""

    def __init__(self, root: str) -> None:
        self.root = root[len("file://"):] if root.startswith("file://") else root
        self.s3 = self.root.startswith("s3://")
        if self.s3:
            self.bucket, _, prefix = self.root[5:].partition("/")
            self.prefix = prefix.rstrip("/") + "/" if prefix else ""
        elif "://" in self.root:
            raise InvalidInput(f"unsupported artifact store URI: {root} (a directory or s3://)",
                               field="MODELCTL_ARTIFACTS")

    @staticmethod
    def key_for(sha: str, suffix: str = "") -> str:
        """The store key of a digest."""
        return f"sha256/{sha[:2]}/{sha}{suffix}"

    def location(self, uri: str) -> str:
        """The concrete path or ``s3://`` URI behind an ``artifacts://`` URI."""
        key = self._key(uri)
        return f"s3://{self.bucket}/{self.prefix}{key}" if self.s3 else str(Path(self.root) / key)

    def _key(self, uri: str) -> str:
        key = uri[len(SCHEME):] if uri.startswith(SCHEME) else uri
        if not _KEY.match(key):
            raise InvalidInput(f"not an artifact reference: {uri!r}", field="artifact_uri")
        return key

    def put(self, data: bytes, suffix: str = "") -> tuple[str, str]:
        """Store ``data`` (a no-op when present); returns (``artifacts://`` URI, sha256)."""
        sha = sha256_hex(data)
        key = self.key_for(sha, suffix)
        target = self.location(key)
        try:
            if self.s3 or not Path(target).exists():
                blobs.write_bytes(target, data)
        except blobs.BlobError as exc:
            raise StoreUnavailable(f"cannot write to the artifact store {self.root}: {exc}") from exc
        return SCHEME + key, sha

    def get(self, uri: str) -> bytes:
        """The bytes of an ``artifacts://`` URI, verified against the digest in its name."""
        key = self._key(uri)
        try:
            data = blobs.read_bytes(self.location(key))
        except FileNotFoundError as exc:
            raise InvalidInput(f"artifact {uri} is not in the store {self.root}", field="artifact_uri") from exc
        except blobs.BlobError as exc:
            raise StoreUnavailable(f"cannot read {uri} from the artifact store {self.root}: {exc}") from exc
        expected = _KEY.match(key).group(2)  # type: ignore[union-attr]
        actual = sha256_hex(data)
        if actual != expected:
            raise InvalidInput(f"artifact {uri} is corrupt: sha256 {actual} != {expected}; refusing to use it",
                               field="artifact_uri")
        return data


def open_artifacts(uri: str | None = None) -> ArtifactStore:
    """The store at ``uri``, else MODELCTL_ARTIFACTS, else the folder beside the registry."""
    if uri:
        return ArtifactStore(uri)
    from registry.settings import get_settings

    return ArtifactStore(get_settings().artifacts_uri())
