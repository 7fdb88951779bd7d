"""S3 store: one object per model under ``s3://bucket/prefix/``, optimistic concurrency on ETags.

A create uses ``IfNoneMatch="*"`` and an update ``IfMatch=<etag read>``. When another writer got
there first (412 PreconditionFailed, or 409 ConditionalRequestConflict) the change is re-read,
re-applied and retried with jittered exponential backoff, a bounded number of times.

Every change carries an idempotency token: the ids of the history events it adds. When the response
to a committed PUT is lost, botocore retries it and gets 412; the re-read document then already holds
our token, and that is success, never a second application of the same change.
The endpoint comes from the standard AWS settings (``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from registry import yamlio
from registry.entities import ModelRecord
from registry.errors import InvalidInput, RegistryNotFound, StoreUnavailable, VersionConflict
from registry.stores.base import (
    Mutation,
    Store,
    check_aux_key,
    check_meta,
    check_name,
    decode_record,
    decode_serving,
    encode_record,
    encode_serving,
    new_meta,
)

MAX_ATTEMPTS = 40
log = logging.getLogger("modelctl.store")


def idempotency_tokens(current: ModelRecord | None, new: ModelRecord) -> set[str]:
    """The ids of the history events a change adds: its idempotency token."""
    before = {e.id for e in current.history} if current is not None else set()
    return {e.id for e in new.history if e.id not in before}


def _holds_our_change(current: ModelRecord, got: tuple[bytes, str] | None, tokens: set[str],
                      bodies: set[bytes]) -> bool:
    """True when a previous attempt of this change is what the store holds (its response was lost)."""
    if tokens and any(e.id in tokens for e in current.history):
        return True
    return got is not None and got[0] in bodies
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


def _client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"max_attempts": 5, "mode": "standard"},
                                            connect_timeout=5, read_timeout=30,
                                            max_pool_connections=32))


class S3Store(Store):
    """A registry in an S3 bucket (or any S3-compatible endpoint)."""

    def __init__(self, uri: str, client: Any | None = None) -> None:
        rest = uri[len("s3://"):]
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise InvalidInput(f"S3 registry URI needs a bucket: {uri}", field="registry")
        self.uri, self.bucket = uri, bucket
        self.prefix = (prefix.rstrip("/") + "/") if prefix else ""
        self._client = client or _client()

    def _key(self, *parts: str) -> str:
        return self.prefix + "/".join(parts)

    def _call(self, op: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client, op)(Bucket=self.bucket, **kwargs)
        except ClientError:
            raise
        except BotoCoreError as exc:
            raise StoreUnavailable(f"S3 {op} on s3://{self.bucket}/{kwargs.get('Key', self.prefix)} "
                                   f"failed: {exc}") from exc

    def _get(self, key: str) -> tuple[bytes, str] | None:
        from botocore.exceptions import ClientError

        try:
            resp = self._call("get_object", Key=key)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            if code == "NoSuchBucket":
                raise RegistryNotFound(f"no such bucket: {self.bucket}") from exc
            raise StoreUnavailable(f"S3 get s3://{self.bucket}/{key}: {exc}") from exc
        return resp["Body"].read(), resp["ETag"]

    def _put(self, key: str, data: bytes, *, if_match: str | None, create: bool) -> str | None:
        """Conditional put; the new ETag, or None when another writer changed the object first."""
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Key": key, "Body": data, "ContentType": "application/yaml"}
        if create:
            kwargs["IfNoneMatch"] = "*"
        elif if_match is not None:
            kwargs["IfMatch"] = if_match
        try:
            resp = self._call("put_object", **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
            if code in _CONFLICT_CODES or status in ("412", "409"):
                return None
            raise StoreUnavailable(f"S3 put s3://{self.bucket}/{key}: {exc}") from exc
        return str(resp["ETag"])

    # -- layout ---------------------------------------------------------------------------------
    def exists(self) -> bool:
        got = self._get(self._key("registry.yaml"))
        if got is None:
            return False
        check_meta(yamlio.loads(got[0]), self.uri)
        return True

    def _require(self) -> None:
        if not self.exists():
            raise RegistryNotFound(f"no registry at {self.uri}: run `modelctl init` or `modelctl import FILE`")

    def initialize(self) -> bool:
        if self.exists():
            return False
        return self._put(self._key("registry.yaml"), yamlio.dumps(new_meta()).encode(), if_match=None,
                         create=True) is not None

    # -- models ---------------------------------------------------------------------------------
    def _list(self, sub: str) -> dict[str, str]:
        out: dict[str, str] = {}
        token: str | None = None
        base = self._key(sub) + "/"
        while True:
            kwargs: dict[str, Any] = {"Prefix": base}
            if token:
                kwargs["ContinuationToken"] = token
            from botocore.exceptions import ClientError

            try:
                resp = self._call("list_objects_v2", **kwargs)
            except ClientError as exc:
                raise StoreUnavailable(f"S3 list s3://{self.bucket}/{base}: {exc}") from exc
            for obj in resp.get("Contents", []):
                out[obj["Key"][len(base):]] = obj["ETag"]
            if not resp.get("IsTruncated"):
                return out
            token = resp["NextContinuationToken"]

    def names(self) -> list[str]:
        return sorted(k[:-5] for k in self._list("models") if k.endswith(".yaml"))

    def read(self, name: str) -> ModelRecord | None:
        got = self._get(self._key("models", f"{check_name(name)}.yaml"))
        return decode_record(got[0], f"{self.uri}models/{name}.yaml") if got else None

    def read_raw(self, name: str) -> bytes | None:
        got = self._get(self._key("models", f"{check_name(name)}.yaml"))
        return got[0] if got else None

    def read_all(self) -> list[ModelRecord]:
        names = self.names()
        with ThreadPoolExecutor(max_workers=16) as pool:
            return [r for r in pool.map(self.read, names) if r is not None]

    def update(self, name: str, mutate: Mutation) -> ModelRecord | None:
        key = self._key("models", f"{check_name(name)}.yaml")
        tokens: set[str] = set()  # history event ids of every attempt: any of them stored = committed
        bodies: set[bytes] = set()
        for attempt in range(MAX_ATTEMPTS):
            got = self._get(key)
            current = decode_record(got[0], key) if got else None
            if current is not None and attempt and _holds_our_change(current, got, tokens, bodies):
                assert got is not None
                self._refresh_serving(name, current, got[1])
                return current
            new = mutate(current)
            if new is None:
                return None
            tokens |= idempotency_tokens(current, new)
            body = encode_record(new)
            bodies.add(body)
            etag = self._put(key, body, if_match=got[1] if got else None, create=got is None)
            if etag is not None:
                self._refresh_serving(name, new, etag)
                return new
            time.sleep(min(2.0, 0.01 * 2 ** min(attempt, 8)) * random.uniform(0.5, 1.5))
        raise VersionConflict(f"{self.uri}: gave up updating model {name!r} after {MAX_ATTEMPTS} "
                              "conflicting concurrent writes; try again")

    def _refresh_serving(self, name: str, record: ModelRecord, etag: str) -> None:
        """The change is committed: a failure of the derived view is reported, never raised."""
        from botocore.exceptions import ClientError

        try:
            self._write_serving(name, record, etag)
        except (StoreUnavailable, ClientError) as exc:
            log.warning("committed; the derived serving view of %s was not updated (%s): readers use the "
                        "model document until the next change rebuilds it", name, exc)

    def _write_serving(self, name: str, record: ModelRecord, etag: str) -> None:
        """Derived serving document (unconditional: a stale one is detected by its ETag stamp)."""
        self._call("put_object", Key=self._key("serving", f"{name}.json"), Body=encode_serving(record, etag))

    def read_serving(self, names: list[str], signatures: dict[str, str]) -> dict[str, ModelRecord]:
        def one(name: str) -> tuple[str, ModelRecord | None]:
            got = self._get(self._key("serving", f"{name}.json"))
            return name, decode_serving(got[0], signatures.get(name, "")) if got else None

        with ThreadPoolExecutor(max_workers=16) as pool:
            return {n: r for n, r in pool.map(one, names) if r is not None}

    def signatures(self) -> dict[str, str]:
        return {k[:-5]: etag for k, etag in self._list("models").items() if k.endswith(".yaml")}

    def write_raw(self, name: str, data: bytes) -> None:
        """Write a model document's bytes as they are (copy between stores)."""
        record = decode_record(data, name)
        resp = self._call("put_object", Key=self._key("models", f"{check_name(name)}.yaml"), Body=data)
        self._write_serving(name, record, str(resp["ETag"]))

    # -- aux ------------------------------------------------------------------------------------
    def read_aux(self, key: str) -> bytes | None:
        got = self._get(self._key("aux", check_aux_key(key)))
        return got[0] if got else None

    def aux_keys(self) -> list[str]:
        return sorted(self._list("aux"))

    def write_aux(self, key: str, data: bytes) -> None:
        self._call("put_object", Key=self._key("aux", check_aux_key(key)), Body=data)
