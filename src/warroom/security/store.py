"""The evidence files: sealed (crypto.py) as they stream in, named by a keyed hash of their
content, read back chunk by chunk. Files are written once and never changed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from warroom.errors import WarroomError
from warroom.security.crypto import Corrupt, LockerKey, Sealer, open_sealed


class PayloadTooLarge(WarroomError):
    status_code = 413
    code = "payload_too_large"


class LockerOff(WarroomError):
    status_code = 503
    code = "evidence_locker_off"


@dataclass(frozen=True)
class Stored:
    address: str
    sha256: str
    size: int


class Intake:
    """One upload in progress: `write` chunks, then `finish` (or `abort`)."""

    def __init__(self, store: EvidenceStore, max_bytes: int) -> None:
        self._store, self._max = store, max_bytes
        store.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, name = tempfile.mkstemp(prefix=".intake-", dir=store.root)
        self._path = Path(name)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self._sealer = Sealer(store.key, self._file)

    def write(self, data: bytes) -> None:
        if self._sealer.size + len(data) > self._max:
            self.abort()
            raise PayloadTooLarge(
                f"evidence is limited to {self._max} bytes (security.evidence.max_bytes)",
                field="body",
            )
        self._sealer.feed(data)

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._path.unlink(missing_ok=True)

    def finish(self) -> Stored:
        """Seal the last chunk, flush to disk, and move the file to its address."""
        self._sealer.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        sha = self._sealer.sha256.hexdigest()
        address = self._store.key.address(sha)
        target = self._store.path(address)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if target.exists():
            self._path.unlink()  # the same content is already stored
        else:
            os.replace(self._path, target)
        return Stored(address=address, sha256=sha, size=self._sealer.size)


class EvidenceStore:
    def __init__(self, root: Path, key: LockerKey) -> None:
        self.root, self.key = root, key

    def path(self, address: str) -> Path:
        return self.root / address[:2] / address

    def intake(self, max_bytes: int) -> Intake:
        return Intake(self, max_bytes)

    def read(self, address: str) -> Iterator[bytes]:
        """The plaintext, chunk by chunk; raise Corrupt when the file is missing or altered."""
        try:
            source = self.path(address).open("rb")
        except FileNotFoundError:
            raise Corrupt("the stored file is missing") from None
        with source:
            yield from open_sealed(self.key, source)
