"""Evidence encryption at rest: AES-256-GCM in fixed-size authenticated chunks.

A file is a header and a sequence of chunks. Each file has its own key, derived with
HKDF-SHA256 from the locker key and a random salt in the header. Chunk `i` is sealed
with AES-GCM under the nonce `prefix ‖ i ‖ last` (the STREAM construction), with the
header as associated data, so chunks cannot be reordered, dropped, truncated or moved to
another file without the tag check failing. Reading releases a chunk only after its tag
has been checked, and never holds more than one chunk in memory.

`cryptography` is imported on first use: it costs a server ~8 MB it would otherwise hold
from start for a feature most requests never touch (`tests/unit/test_lazy_imports.py`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

MAGIC = b"WRE1"
CHUNK = 64 * 1024
TAG = 16
_HEADER = struct.Struct(">4s16s7sI")  # magic, salt, nonce prefix, chunk size
HEADER_SIZE = _HEADER.size


class Corrupt(Exception):
    """The stored file is not what was sealed: altered, truncated, or another key's."""


def _derive(secret: bytes, salt: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


class LockerKey:
    """The locker key from settings; never printed (its repr says nothing)."""

    def __init__(self, secret: str) -> None:
        self._master = _derive(secret.encode(), b"warroom-evidence", b"master")

    def __repr__(self) -> str:
        return "LockerKey(…)"

    def file_key(self, salt: bytes) -> bytes:
        return _derive(self._master, salt, b"file")

    def address(self, sha256_hex: str) -> str:
        """Where content with this SHA-256 is stored: keyed, so names do not reveal hashes."""
        return hmac.new(self._master, sha256_hex.encode(), hashlib.sha256).hexdigest()


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">I", index) + (b"\x01" if last else b"\x00")


class Sealer:
    """Encrypt a stream into `out` chunk by chunk; `feed` plaintext, then `close`."""

    def __init__(self, key: LockerKey, out: BinaryIO, chunk: int = CHUNK) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        salt, prefix = os.urandom(16), os.urandom(7)
        self._header = _HEADER.pack(MAGIC, salt, prefix, chunk)
        self._aead = AESGCM(key.file_key(salt))
        self._prefix, self._chunk, self._out = prefix, chunk, out
        self._pending = bytearray()
        self._index = 0
        self.size = 0
        self.sha256 = hashlib.sha256()
        out.write(self._header)

    def _seal(self, data: bytes, last: bool) -> None:
        if self._index >= 2**32 - 1:
            raise ValueError("file too large for one evidence item")
        nonce = _nonce(self._prefix, self._index, last)
        self._out.write(self._aead.encrypt(nonce, data, self._header))
        self._index += 1

    def feed(self, data: bytes) -> None:
        self.size += len(data)
        self.sha256.update(data)
        self._pending += data
        # A full chunk is sealed only once more data follows, so the last one is marked.
        while len(self._pending) > self._chunk:
            self._seal(bytes(self._pending[: self._chunk]), last=False)
            del self._pending[: self._chunk]

    def close(self) -> None:
        self._seal(bytes(self._pending), last=True)
        self._pending.clear()


def open_sealed(key: LockerKey, source: BinaryIO) -> Iterator[bytes]:
    """Yield the plaintext chunk by chunk, each after its tag checked; raise Corrupt."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = source.read(HEADER_SIZE)
    if len(header) != HEADER_SIZE:
        raise Corrupt("the header is missing or short")
    magic, salt, prefix, chunk = _HEADER.unpack(header)
    if magic != MAGIC or not 0 < chunk <= 16 * 1024 * 1024:
        raise Corrupt("the header is not an evidence header")
    aead = AESGCM(key.file_key(salt))
    block = chunk + TAG
    index = 0
    current = source.read(block)
    while True:
        following = source.read(block) if len(current) == block else b""
        last = not following
        if len(current) < TAG:
            raise Corrupt(f"chunk {index} is truncated")
        try:
            yield aead.decrypt(_nonce(prefix, index, last), current, header)
        except InvalidTag:
            raise Corrupt(f"chunk {index} fails its authentication tag") from None
        if last:
            return
        current, index = following, index + 1
