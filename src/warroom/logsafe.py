"""Keep secrets out of the access log: integration keys travel in URLs (`?key=`,
`/api/v1/heartbeats/<key>`, signed `/ack/<token>` links, `/calendars/<secret>.ics` feeds)."""

from __future__ import annotations

import logging
import re

from uvicorn.logging import AccessFormatter

_SECRET_IN_URL = [
    (re.compile(r"([?&](?:key|token)=)[^&\s\"]+"), r"\1[redacted]"),
    (re.compile(r"(/api/v1/heartbeats/)[^/?\s\"]+"), r"\1[redacted]"),
    (re.compile(r"(/ack/)[^/?\s\"]+"), r"\1[redacted]"),
    (re.compile(r"(/calendars/)[^/?\s\"]+"), r"\1[redacted]"),
    (re.compile(r"(/status/subscriptions/(?:confirm|unsubscribe)/)[^/?\s\"]+"), r"\1[redacted]"),
]


# Every secret above follows one of these; a text with none of them (nearly every access
# line: the log runs for every request, a storm's too) is left as it is without a regex.
_MARKERS = ("key=", "token=", "/heartbeats/", "/ack/", "/calendars/", "/subscriptions/")


def redact_url(text: str) -> str:
    if not any(marker in text for marker in _MARKERS):
        return text
    for pattern, replacement in _SECRET_IN_URL:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrite URL arguments of a log record (uvicorn's access log passes the path as one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact_url(record.msg)
        return True


_STATUS: dict[int, str] = {}


def _status(formatter: AccessFormatter, code: int) -> str:
    """`formatter.get_status_code(code)` ("202 Accepted"), worked out once per code."""
    text = _STATUS.get(code)
    if text is None:
        text = _STATUS.setdefault(code, formatter.get_status_code(code))
    return text


class AccessLine(AccessFormatter):
    """uvicorn's access line, written without its two copies of every record.

    `AccessFormatter` copies the record, and its parent copies the copy; under load that
    was most of the cost of a line, and a line is written for every request. Without
    colours (a file, a pipe, journald) the same text is built here directly; with
    colours (a terminal) uvicorn's own formatting runs."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        args = record.args
        if self.use_colors or not isinstance(args, tuple) or len(args) != 5:
            return super().formatMessage(record)
        client_addr, method, full_path, http_version, status_code = args
        values = {
            **record.__dict__,
            "levelprefix": record.levelname + ":" + " " * (8 - len(record.levelname)),
            "client_addr": client_addr,
            "request_line": f"{method} {full_path} HTTP/{http_version}",
            "status_code": _status(self, int(status_code)),  # type: ignore[call-overload]
        }
        return self._style._fmt % values
