"""Domain errors. Each maps to one HTTP status and the JSON error body of CONTRACT.md."""

from __future__ import annotations

from typing import Any


class WarroomError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            details = {"field": field, **(details or {})}
        self.details = details

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ValidationFailed(WarroomError):
    status_code = 422
    code = "validation_error"


class NotFound(WarroomError):
    status_code = 404
    code = "not_found"


class Conflict(WarroomError):
    """The request is well-formed but the current state refuses it."""

    status_code = 409
    code = "conflict"


class Unauthorized(WarroomError):
    status_code = 401
    code = "unauthorized"


class Forbidden(WarroomError):
    status_code = 403
    code = "forbidden"
