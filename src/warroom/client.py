"""The small HTTP client the command line uses to talk to a warroom server.

It turns every way a call can go wrong into one of two exceptions, so that the command
line has a single place that decides what to print and which exit status to use:
`ApiError` (the server answered, and refused) and `Unreachable` (it did not answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from warroom import __version__

DEFAULT_URL = "http://127.0.0.1:8080"
# Long enough for a slow database on a busy server, short enough that a script notices.
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)

Params = Mapping[str, str | int | float | list[str] | None]


class ApiError(Exception):
    """The server answered with an error (4xx/5xx)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    @property
    def field(self) -> str | None:
        """The request field the server blamed, when it named one."""
        if isinstance(self.details, Mapping):
            value = self.details.get("field")
            return str(value) if value is not None else None
        if isinstance(self.details, list) and self.details:
            first = self.details[0]
            if isinstance(first, Mapping) and first.get("field") is not None:
                return str(first["field"])
        return None

    def describe(self) -> str:
        """One line for people: the server's message, with the field it is about."""
        message = self.message
        field = self.field
        if field and not message.startswith(f"{field}:") and field != "body":
            message = f"{field}: {message}"
        if self.status == 401:
            return (
                f"unauthorized (401): {message}; pass a valid token with --token or WARROOM_TOKEN"
            )
        if self.status == 403:
            return f"forbidden (403): {message}"
        return message


class Unreachable(Exception):
    """The server could not be reached, or did not answer in time."""


class ApiClient:
    """A synchronous client for `/api/v1`; use it as a context manager."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        token: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"User-Agent": f"warroom-cli/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- verbs ---

    def get(self, path: str, *, params: Params | None = None) -> Any:
        return self._json(self._send("GET", path, params=params))

    def get_text(self, path: str, *, params: Params | None = None) -> str:
        return self._send("GET", path, params=params).text

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self._json(self._send("POST", path, body=body))

    def put(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self._json(self._send("PUT", path, body=body))

    def delete(self, path: str) -> Any:
        return self._json(self._send("DELETE", path))

    # --- plumbing ---

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        query = {k: v for k, v in (params or {}).items() if v is not None and v != []}
        try:
            response = self._http.request(method, path, params=query or None, json=body)
        except httpx.TimeoutException as exc:
            raise Unreachable(f"warroom at {self.url} did not answer in time ({exc})") from exc
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach warroom at {self.url} ({_reason(exc)})") from exc
        if response.is_error:
            raise _api_error(response)
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(
                response.status_code, "bad_response", "the server's answer is not JSON"
            ) from exc


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _api_error(response: httpx.Response) -> ApiError:
    """Read the `{"error": {code, message, details}}` body; fall back to the status line."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        error = body["error"]
        return ApiError(
            status,
            str(error.get("code") or "error"),
            str(error.get("message") or response.reason_phrase),
            error.get("details"),
        )
    text = " ".join(response.text.split())[:200]
    message = f"HTTP {status} {response.reason_phrase}" + (f": {text}" if text else "")
    return ApiError(status, "error", message)
