"""The evidence locker with a large file: upload and download throughput through a real
server on loopback, and how much the server's memory grows (it must not hold the file).

Run: `python -m bench.evidence [MiB]` (default 256). SQLite in a temporary folder; the
server runs in this process, so the peak resident size covers client and server.
"""

from __future__ import annotations

import hashlib
import resource
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn

from bench.common import emit, note

CHUNK = 1024 * 1024
KEY = "bench-evidence-key-" + "x" * 20


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(size_mib: int = 256) -> None:
    from warroom.app import build_context, create_app
    from warroom.auth import service as tokens
    from warroom.auth.logic import Role
    from warroom.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        settings = Settings(
            database_url=f"sqlite:///{folder}/bench.db", engine=False, evidence_key=KEY,
            evidence_dir=Path(folder) / "locker", port=port,
        )  # fmt: skip
        ctx = build_context(settings)
        security = ctx.config.security
        limit = security.evidence.model_copy(update={"max_bytes": (size_mib + 1) * CHUNK})
        ctx.config = ctx.config.model_copy(
            update={"security": security.model_copy(update={"evidence": limit})}
        )
        from warroom.app import prepare

        prepare(ctx)
        with ctx.db.unit_of_work() as uow:
            _, token = tokens.create(uow.session, name="b", role=Role.ADMIN, user=None,
                                     now=ctx.clock.now())  # fmt: skip
            uow.commit()
        server = uvicorn.Server(uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port,
                                               log_level="warning"))  # fmt: skip
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=600) as http:
            for _ in range(200):
                try:
                    http.get("/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            key = http.post("/api/v1/incidents", json={"title": "bench", "severity": "SEV1"})
            incident = key.json()["id"]
            block = bytes(range(256)) * (CHUNK // 256)
            expected = hashlib.sha256()

            def body() -> Iterator[bytes]:
                for _ in range(size_mib):
                    expected.update(block)
                    yield block

            before = _rss_mib()
            start = time.perf_counter()
            r = http.post(
                f"/api/v1/incidents/{incident}/evidence",
                params={"name": "big.bin", "reason": "bench"},
                content=body(),
                headers={"Content-Type": "application/octet-stream"},
            )
            upload = time.perf_counter() - start
            assert r.status_code == 201, r.text
            assert r.json()["sha256"] == expected.hexdigest()
            start, got = time.perf_counter(), hashlib.sha256()
            with http.stream(
                "GET", f"/api/v1/incidents/{incident}/evidence/1/content",
                params={"reason": "bench"},
            ) as response:  # fmt: skip
                for chunk in response.iter_bytes():
                    got.update(chunk)
            download = time.perf_counter() - start
            assert got.hexdigest() == expected.hexdigest()
        server.should_exit = True
        thread.join(timeout=30)
    note(f"evidence: {size_mib} MiB up in {upload:.1f}s, down in {download:.1f}s")
    emit("evidence_upload", size_mib / upload, "MiB/s")
    emit("evidence_download", size_mib / download, "MiB/s")
    emit("evidence_peak_rss_growth", max(_rss_mib() - before, 0.0), "MiB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 256)
