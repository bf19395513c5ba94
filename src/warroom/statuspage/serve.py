"""Serve the published status page: bytes from memory, no session, no database.

`StatusSnapshot` is an ASGI middleware in front of everything else. It answers GET and
HEAD under `/status` from the files the publisher wrote, loaded once into memory and
reloaded when the `VERSION` marker is replaced, with a strong
ETag (304 when it matches), `Cache-Control` with `stale-if-error`, and the precompressed
gzip body when the client takes it. Everything else passes through untouched, so the
subscription forms (POST) go to their rate-limited routes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from warroom.statuspage.publish import VERSION_FILE

log = logging.getLogger("warroom.statuspage")

PREFIX = "/status"
CACHE_CONTROL = b"public, max-age=10, s-maxage=30, stale-while-revalidate=60, stale-if-error=86400"
_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".json": b"application/json",
    ".rss": b"application/rss+xml; charset=utf-8",
    ".atom": b"application/atom+xml; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
}
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")
_SECURITY = [
    (b"x-content-type-options", b"nosniff"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
        b"form-action 'self'; frame-ancestors 'none'",
    ),
    (b"referrer-policy", b"no-referrer"),
    (b"vary", b"Accept-Encoding"),
]


@dataclass(frozen=True)
class Entry:
    """One file, with its answers' headers built once when the snapshot loads."""

    body: bytes
    gzip: bytes | None
    etag: bytes
    plain_headers: list[tuple[bytes, bytes]]
    gzip_headers: list[tuple[bytes, bytes]]
    not_modified_headers: list[tuple[bytes, bytes]]


def _entry(body: bytes, packed: bytes | None, kind: bytes, last_modified: bytes) -> Entry:
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'.encode()
    common = [
        (b"content-type", kind),
        (b"cache-control", CACHE_CONTROL),
        (b"etag", etag),
        *_SECURITY,
    ]
    if last_modified:
        common.append((b"last-modified", last_modified))
    plain = [*common, (b"content-length", str(len(body)).encode())]
    gzipped = [*common, (b"content-encoding", b"gzip")]
    if packed is not None:
        gzipped.append((b"content-length", str(len(packed)).encode()))
    return Entry(body, packed, etag, plain, gzipped, common)


def url_to_file(path: str) -> str | None:
    """The snapshot file for a public URL path, or None when there is none."""
    if path in (PREFIX, PREFIX + "/", PREFIX + "/index.html"):
        return "index.html"
    if not path.startswith(PREFIX + "/"):
        return None
    relative = path[len(PREFIX) + 1 :].rstrip("/")
    if not _SAFE.match(relative) or ".." in relative or relative.endswith(".gz"):
        return None
    if relative == "subscriptions" or relative.startswith("subscriptions/"):
        return None  # the subscription routes, which are not files
    if relative in ("history",):
        return "history.html"
    if relative.startswith("incidents/") and relative.count("/") == 1 and "." not in relative:
        return relative + ".html"
    return relative


class Snapshot:
    """The published files, in memory, reloaded when the publisher writes a new version."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._files: dict[str, Entry] = {}
        self._version: bytes | None = None
        self._marker: tuple[int, int, int] | None = None
        self._last_modified = b""

    def _load(self, version: bytes) -> None:
        published = version.decode(errors="replace").partition(" ")[2]
        try:
            stamp = format_datetime(datetime.fromisoformat(published), usegmt=True).encode()
        except ValueError:
            stamp = b""
        files: dict[str, Entry] = {}
        for path in self.directory.rglob("*"):
            if not path.is_file() or path.name.startswith(".") or path.suffix == ".gz":
                continue
            kind = _TYPES.get(path.suffix)
            if kind is None:
                continue
            relative = path.relative_to(self.directory).as_posix()
            try:
                body = path.read_bytes()
            except OSError:
                continue
            compressed = path.with_name(path.name + ".gz")
            packed = compressed.read_bytes() if compressed.is_file() else None
            files[relative] = _entry(body, packed, kind, stamp)
        self._files, self._version, self._last_modified = files, version, stamp

    def refresh(self) -> None:
        """Reload the files when the VERSION marker was replaced (one stat per request:
        the publisher renames a new marker in, which changes its inode)."""
        try:
            info = os.stat(self.directory / VERSION_FILE)
        except OSError:
            return  # nothing published yet, or the disk hiccuped: keep what we have
        marker = (info.st_ino, info.st_mtime_ns, info.st_size)
        if marker == self._marker:
            return
        with self._lock:
            if marker == self._marker:
                return
            try:
                version = (self.directory / VERSION_FILE).read_bytes()
            except OSError:
                return
            if version != self._version:
                self._load(version)
            self._marker = marker

    @property
    def ready(self) -> bool:
        return self._version is not None

    def get(self, name: str) -> Entry | None:
        return self._files.get(name)

    @property
    def last_modified(self) -> bytes:
        return self._last_modified


class StatusSnapshot:
    """The ASGI middleware answering the public status page from the snapshot."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        directory: Path,
        publish_missing: Callable[[], object] | None = None,
    ) -> None:
        self.app = app
        self.snapshot = Snapshot(directory)
        self._publish_missing = publish_missing
        self._tried_publish = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        name = url_to_file(scope["path"])
        if name is None:
            await self.app(scope, receive, send)
            return
        snapshot = self.snapshot
        snapshot.refresh()
        if not snapshot.ready and not self._tried_publish and self._publish_missing:
            # First request on a fresh install: render once (the engine does it otherwise).
            self._tried_publish = True
            try:
                self._publish_missing()
            except Exception:
                log.exception("could not publish the status page")
            snapshot.refresh()
        entry = snapshot.get(name)
        if entry is None:
            await self._plain(send, 404 if snapshot.ready else 503, scope["method"])
            return
        match = accept = None
        for header, value in scope["headers"]:
            if header == b"if-none-match":
                match = value
            elif header == b"accept-encoding":
                accept = value
        if match is not None and _etag_matches(match, entry.etag):
            await send(
                {"type": "http.response.start", "status": 304,
                 "headers": list(entry.not_modified_headers)}
            )  # fmt: skip
            await send({"type": "http.response.body", "body": b""})
            return
        if entry.gzip is not None and accept is not None and b"gzip" in accept:
            body, headers = entry.gzip, entry.gzip_headers
        else:
            body, headers = entry.body, entry.plain_headers
        # A copy: an outer middleware may add headers to the message it is given.
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    @staticmethod
    async def _plain(send: Send, status: int, method: str) -> None:
        text = b"not found\n" if status == 404 else b"the status page is not published yet\n"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(text)).encode()),
                    (b"cache-control", b"public, max-age=5"),
                    *_SECURITY,
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else text})


def _etag_matches(header: bytes, etag: bytes) -> bool:
    if header.strip() == b"*":
        return True
    return any(part.strip().removeprefix(b"W/") == etag for part in header.split(b","))
