"""The guard arms no request timeout for reads answered from memory (the status page)."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from warroom.hardening.middleware import Guard


async def slow(_: Request) -> PlainTextResponse:
    await asyncio.sleep(0.3)
    return PlainTextResponse("answered")


def client() -> TestClient:
    inner = Starlette(
        routes=[
            Route("/status/summary.json", slow, methods=["GET", "POST"]),
            Route("/api/slow", slow),
        ]
    )
    guarded = Guard(
        inner, max_body=1024, timeout=0.05, never_blocks=lambda path: path.startswith("/status/")
    )
    return TestClient(guarded)


def test_a_memory_read_is_not_cut_off_by_the_request_timeout() -> None:
    with client() as c:
        r = c.get("/status/summary.json")
        assert r.status_code == 200 and r.text == "answered"


def test_every_other_request_still_is() -> None:
    with client() as c:
        assert c.get("/api/slow").status_code == 503
        # Only reads: a POST to the same path keeps its timeout.
        assert c.post("/status/summary.json", content=b"{}").status_code == 503


def test_a_nul_in_the_query_of_a_memory_read_is_still_refused() -> None:
    with client() as c:
        r = c.get("/status/summary.json", params={"page": "a\x00"})
        assert r.status_code == 422 and "page" in r.text
