"""One small error tree. Every error a user can cause maps to an exit code (see CONTRACTS.md)."""

from __future__ import annotations


class RegistryError(Exception):
    """Base of every modelctl error that is reported without a traceback."""

    exit_code = 2


class InvalidInput(RegistryError):
    """Bad input: a malformed file, an unknown or missing field, a wrong type.

    Args:
        message: what is wrong.
        file: the file the input came from, when there is one.
        line: 1-based line in that file, when known.
        field: dotted path of the offending field, when known.
    """

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.message, self.file, self.line, self.field = message, file, line, field
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "")
        if self.field:
            where = f"{where} field '{self.field}'" if where else f"field '{self.field}'"
        return f"{where}: {self.message}" if where else self.message


class ModelNotFound(RegistryError):
    """The named model is not in the registry."""

    exit_code = 2


class VersionNotFound(RegistryError):
    """The named version or environment does not exist."""

    exit_code = 2


class RegistryNotFound(RegistryError):
    """No registry at the URI (and it was not asked to create one)."""

    exit_code = 2


class PolicyViolation(RegistryError):
    """Refused by policy: a gate, pinning, a missing rollback target. Lists every unmet criterion."""

    exit_code = 1

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        self.reasons = reasons or []
        text = message if not self.reasons else message + "\n" + "\n".join(f"  - {r}" for r in self.reasons)
        super().__init__(text)


class VersionConflict(RegistryError):
    """A concurrent writer won every retry of an optimistic update."""

    exit_code = 5


class StoreUnavailable(RegistryError):
    """The store could not be reached (after retries) or holds something unreadable."""

    exit_code = 5


class SchemaError(StoreUnavailable):
    """The store's schema_version is newer than this code understands."""

    exit_code = 2


class DamagedDocument(StoreUnavailable):
    """A stored document is truncated or corrupt (its end marker or checksum does not match): name it."""

    exit_code = 2
