"""Errors a user can act on. This module imports nothing of Rootline's.

Every error here is shown to the user as one line (no traceback unless ``--debug``),
and the CLI exits with code 2.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConflictError",
    "InputError",
    "NotFoundError",
    "RootlineError",
    "StateError",
]


class RootlineError(Exception):
    """Base class of all errors meant for the user."""

    exit_code = 2


class ConfigError(RootlineError):
    """A setting is missing or wrong (database URL, model path, ...)."""


class InputError(RootlineError):
    """A record in an input file is malformed.

    The message names the file, the line (or message) and the field, so the user can fix it.
    """

    def __init__(
        self,
        reason: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
        message: int | None = None,
    ) -> None:
        self.reason = reason
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(str(self.path))
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.message is not None:
            where.append(f"message {self.message}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


class NotFoundError(RootlineError):
    """A theme, problem or other object asked for by id does not exist."""


class StateError(RootlineError):
    """The action is not possible in the current state (e.g. nothing to cluster yet)."""


class ConflictError(RootlineError):
    """Someone else saved the same object since it was read; reload and apply the change again."""
