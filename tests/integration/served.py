"""A real warroom server on a loopback port in a thread, and the CLI pointed at it: for
tests of commands that talk to a server through the API."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from typer.testing import CliRunner

from warroom.app import create_app
from warroom.cli import app as cli_app
from warroom.context import AppContext


@contextmanager
def serving(ctx: AppContext) -> Iterator[str]:
    """Serve `ctx` on 127.0.0.1 until the block ends; yield its URL once it answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def run(url: str, token: str, *args: str) -> tuple[int, str, str]:
    """Run `warroom ARGS` against `url` with `token`: exit code, stdout, stderr."""
    result = CliRunner().invoke(
        cli_app, list(args), env={"WARROOM_URL": url, "WARROOM_TOKEN": token, "COLUMNS": "200"}
    )
    return result.exit_code, result.stdout, result.stderr
