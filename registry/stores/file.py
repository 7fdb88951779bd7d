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
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from registry import yamlio
from registry.entities import ModelRecord
from registry.errors import InvalidInput, RegistryNotFound
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

_TMP_PREFIX = ".tmp-"


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

    def __init__(self, root: str | Path) -> None:
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
            meta = yamlio.loads(self.root.read_bytes())
        except Exception as exc:
            raise InvalidInput(f"{self.root} is a file, not a registry directory") from exc
        check_meta(meta, str(self.root))

    def _require(self) -> None:
        if not self.exists():
            raise RegistryNotFound(f"no registry at {self.uri}: run `modelctl init` or `modelctl import FILE`")
        check_meta(yamlio.loads(self.meta_path.read_bytes()), str(self.meta_path))

    def initialize(self) -> bool:
        if self.exists():
            check_meta(yamlio.loads(self.meta_path.read_bytes()), str(self.meta_path))
            return False
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self.aux_dir.mkdir(exist_ok=True)
        with self._locked():
            if not self.meta_path.exists():
                atomic_write(self.meta_path, yamlio.dumps(new_meta()).encode())
                return True
        return False

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._sweep_temp_files()
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

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
        return sorted(p.name[:-5] for p in os.scandir(self.models_dir)
                      if p.name.endswith(".yaml") and not p.name.startswith("."))

    def read(self, name: str) -> ModelRecord | None:
        self._require()
        data = self.read_raw(name)
        return decode_record(data, str(self._path(name))) if data is not None else None

    def read_raw(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None

    def update(self, name: str, mutate: Mutation) -> ModelRecord | None:
        self._require()
        path = self._path(name)
        with self._locked():
            current = self.read(name)
            new = mutate(current)
            if new is not None:
                atomic_write(path, encode_record(new))
                self._write_serving(name, new)
            return new

    @staticmethod
    def _signature(st: os.stat_result) -> str:
        return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"

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
        out: dict[str, str] = {}
        for entry in os.scandir(self.models_dir):
            if entry.name.endswith(".yaml") and not entry.name.startswith("."):
                out[entry.name[:-5]] = self._signature(entry.stat())
        return out

    # -- aux ------------------------------------------------------------------------------------
    def read_aux(self, key: str) -> bytes | None:
        try:
            return (self.aux_dir / check_aux_key(key)).read_bytes()
        except FileNotFoundError:
            return None

    def aux_keys(self) -> list[str]:
        if not self.aux_dir.is_dir():
            return []
        return sorted(p.name for p in self.aux_dir.iterdir() if not p.name.startswith("."))

    def write_aux(self, key: str, data: bytes) -> None:
        self._require()
        self.aux_dir.mkdir(exist_ok=True)
        with self._locked():
            atomic_write(self.aux_dir / check_aux_key(key), data)

    def write_raw(self, name: str, data: bytes) -> None:
        """Write a model document's bytes as they are (copy between stores)."""
        record = decode_record(data, name)
        with self._locked():
            atomic_write(self._path(name), data)
            self._write_serving(name, record)


def encode(record: ModelRecord) -> bytes:
    """Re-export for callers that build documents by hand (tests, copy)."""
    return encode_record(record)
