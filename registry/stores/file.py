"""File store: a directory of YAML documents, one per model.

Layout::

    <root>/registry.yaml        kind, schema_version, created_at
    <root>/models/<name>.yaml   one model: versions, environments, evaluations, experiments, plans, history
    <root>/aux/<key>            side documents (e.g. the previous deprecation scan)
    <root>/.lock                writers take an exclusive flock on it

Writes go to a temp file in the same directory, are fsynced and renamed over the target, then the
directory is fsynced: a reader sees the old document or the new one, never a partial write.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from registry.entities import ModelRecord
from registry.errors import DamagedDocument, InvalidInput, RegistryNotFound, StoreUnavailable
from registry.layout import file_signature
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
    parse_meta,
)

_TMP_PREFIX = ".tmp-"
DEFAULT_LOCK_TIMEOUT = 30.0
log = logging.getLogger("modelctl.store")
T = TypeVar("T")


def _fault(exc: OSError, what: str) -> StoreUnavailable:
    """A clear message for a file-system fault (disk full, read-only, permission, missing folder)."""
    reasons = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
               errno.EACCES: "permission denied", errno.EPERM: "permission denied",
               errno.ENOENT: "a folder of the registry is missing", errno.EISDIR: "a directory is in the way",
               errno.ENOTDIR: "a file is in the way of a folder", errno.EDQUOT: "the disk quota is exceeded"}
    reason = reasons.get(exc.errno or 0, exc.strerror or str(exc))
    where = f" ({exc.filename})" if exc.filename else ""
    return StoreUnavailable(f"{what}: {reason}{where}")


def _guard(what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except OSError as exc:
        raise _fault(exc, what) from exc


def atomic_write(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically and durably (temp file, fsync, rename, fsync dir)."""
    tmp = path.parent / f"{_TMP_PREFIX}{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if not durable:
        return
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class FileStore(Store):
    """A registry in a local directory."""

    def __init__(self, root: str | Path, lock_timeout: float | None = None) -> None:
        self.lock_timeout = DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout
        self.root = Path(root)
        self.uri = str(root)
        self.models_dir = self.root / "models"
        self.aux_dir = self.root / "aux"
        self.serving_dir = self.root / "serving"
        self.meta_path = self.root / "registry.yaml"

    # -- layout ---------------------------------------------------------------------------------
    def exists(self) -> bool:
        if self.root.is_file():
            self._check_not_seed()
        return self.meta_path.is_file()

    def _check_not_seed(self) -> None:
        try:
            meta = parse_meta(self.root.read_bytes())
        except Exception as exc:
            raise InvalidInput(f"{self.root} is a file, not a registry directory") from exc
        check_meta(meta, str(self.root))

    def _read_meta(self) -> None:
        data = _guard(f"cannot read {self.meta_path}", self.meta_path.read_bytes)
        try:
            meta = parse_meta(data)
        except Exception as exc:
            raise DamagedDocument(f"{self.meta_path}: damaged registry document (not YAML); restore it or "
                                  "re-create the registry with `modelctl init`") from exc
        check_meta(meta, str(self.meta_path))

    def _require(self) -> None:
        if not self.exists():
            raise RegistryNotFound(f"no registry at {self.uri}: run `modelctl init` or `modelctl import FILE`")
        self._read_meta()
        if not self.models_dir.is_dir():
            raise StoreUnavailable(f"{self.uri}: the models folder {self.models_dir} is missing or not a folder")

    def initialize(self) -> bool:
        if self.exists():
            self._read_meta()
            return False

        def create() -> bool:
            self.models_dir.mkdir(parents=True, exist_ok=True)
            self.aux_dir.mkdir(exist_ok=True)
            with self._locked():
                if not self.meta_path.exists():
                    from registry import yamlio

                    atomic_write(self.meta_path, yamlio.dumps(new_meta()).encode())
                    return True
            return False

        return _guard(f"cannot create a registry at {self.uri}", create)

    def _lock_holder(self, fd: int) -> str:
        with contextlib.suppress(OSError):
            text = os.pread(fd, 256, 0).decode(errors="replace").strip()
            if text:
                return text
        return "an unknown process"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.root / ".lock"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except IsADirectoryError as exc:
            raise StoreUnavailable(f"{self.uri}: the lock file {lock} is a directory; remove it") from exc
        except OSError as exc:
            raise _fault(exc, f"cannot open the lock file {lock}") from exc
        try:
            self._acquire(fd, lock)
            with contextlib.suppress(OSError):  # who holds the lock, for a writer that times out waiting
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()} since "
                              f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}\n".encode(), 0)
            self._sweep_temp_files()
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _acquire(self, fd: int, lock: Path) -> None:
        """Wait for the exclusive lock at most ``lock_timeout`` seconds, then name its holder."""
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreUnavailable(
                        f"{self.uri}: gave up after {self.lock_timeout:g}s waiting for the write lock {lock}, "
                        f"held by {self._lock_holder(fd)}; if that process is stuck, stop it") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.2)

    def _sweep_temp_files(self) -> None:
        """Remove temp files left by a writer killed mid-write (safe: we hold the lock)."""
        for directory in (self.models_dir, self.aux_dir, self.serving_dir, self.root):
            if directory.is_dir():
                for stale in directory.glob(f"{_TMP_PREFIX}*"):
                    with contextlib.suppress(FileNotFoundError):
                        stale.unlink()

    # -- models ---------------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        return self.models_dir / f"{check_name(name)}.yaml"

    def names(self) -> list[str]:
        self._require()
        return _guard(f"cannot list {self.models_dir}", lambda: sorted(
            p.name[:-5] for p in os.scandir(self.models_dir) if p.name.endswith(".yaml") and not p.name.startswith(".")))

    def read(self, name: str) -> ModelRecord | None:
        self._require()
        data = self.read_raw(name)
        return decode_record(data, str(self._path(name))) if data is not None else None

    def read_raw(self, name: str) -> bytes | None:
        path = self._path(name)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _fault(exc, f"cannot read {path}") from exc

    def update(self, name: str, mutate: Mutation) -> ModelRecord | None:
        self._require()
        path = self._path(name)
        with self._locked():
            current = self.read(name)
            new = mutate(current)
            if new is not None:
                _guard(f"cannot write {path}; nothing was changed", lambda: atomic_write(path, encode_record(new)))
                self._refresh_serving(name, new)
            return new

    def _refresh_serving(self, name: str, record: ModelRecord) -> None:
        """The change is committed: a failure of the derived view is reported, never raised (readers detect
        a stale view by its signature and read the model document instead; the next write rebuilds it)."""
        try:
            self._write_serving(name, record)
        except OSError as exc:
            log.warning("committed; the derived serving view of %s was not updated (%s): readers use the "
                        "model document until the next change rebuilds it", name, _fault(exc, "serving view"))

    @staticmethod
    def _signature(st: os.stat_result) -> str:
        return file_signature(st)

    def _write_serving(self, name: str, record: ModelRecord) -> None:
        """Derived serving document, stamped with the source's signature (a crash here only costs speed)."""
        self.serving_dir.mkdir(exist_ok=True)
        signature = self._signature(os.stat(self._path(name)))
        atomic_write(self.serving_dir / f"{name}.json", encode_serving(record, signature), durable=False)

    def read_serving(self, names: list[str], signatures: dict[str, str]) -> dict[str, ModelRecord]:
        out: dict[str, ModelRecord] = {}
        for name in names:
            try:
                data = (self.serving_dir / f"{name}.json").read_bytes()
            except FileNotFoundError:
                continue
            record = decode_serving(data, signatures.get(name, ""))
            if record is not None:
                out[name] = record
        return out

    def signatures(self) -> dict[str, str]:
        self._require()

        def scan() -> dict[str, str]:
            return {entry.name[:-5]: self._signature(entry.stat()) for entry in os.scandir(self.models_dir)
                    if entry.name.endswith(".yaml") and not entry.name.startswith(".")}

        return _guard(f"cannot list {self.models_dir}", scan)

    # -- aux ------------------------------------------------------------------------------------
    def read_aux(self, key: str) -> bytes | None:
        path = self.aux_dir / check_aux_key(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _fault(exc, f"cannot read {path}") from exc

    def aux_keys(self) -> list[str]:
        if not self.aux_dir.is_dir():
            return []
        return sorted(p.name for p in self.aux_dir.iterdir() if not p.name.startswith("."))

    def write_aux(self, key: str, data: bytes) -> None:
        self._require()
        path = self.aux_dir / check_aux_key(key)
        _guard(f"cannot create {self.aux_dir}", lambda: self.aux_dir.mkdir(exist_ok=True))
        with self._locked():
            _guard(f"cannot write {path}", lambda: atomic_write(path, data))

    def write_raw(self, name: str, data: bytes) -> None:
        """Write a model document's bytes as they are (copy between stores)."""
        record = decode_record(data, name)
        path = self._path(name)
        with self._locked():
            _guard(f"cannot write {path}", lambda: atomic_write(path, data))
            self._refresh_serving(name, record)


def encode(record: ModelRecord) -> bytes:
    """Re-export for callers that build documents by hand (tests, copy)."""
    return encode_record(record)
