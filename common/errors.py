"""Error types shared by every package.

`message` is for people (Italian, translated through gettext); `code` is for
machines (English, stable). The API maps each kind to its HTTP status.
"""

from __future__ import annotations

from typing import Any


class ProcedoError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class ValidationFailed(ProcedoError):
    """Input data does not satisfy a schema or rule. `details` maps field -> messages."""

    code = "invalid"


class PermissionRefused(ProcedoError):
    code = "permission_denied"


class NotFound(ProcedoError):
    code = "not_found"


class Conflict(ProcedoError):
    """The object changed under us: already completed, claimed by someone else."""

    code = "conflict"


class Unprocessable(ProcedoError):
    """Well-formed, but it cannot be processed as sent (e.g. an idempotency key reused for another call)."""

    code = "unprocessable"


class ConfigurationError(ProcedoError):
    code = "configuration_error"
