"""DirectRoutes' request timeout, kept with one timer for all requests waiting: each request
still gets its own deadline, a request that answers in time is untouched, and a
cancellation from outside still cancels (as with `asyncio.timeout`)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from warroom.direct_routes import DirectRoutes

TIMEOUT = 0.3


async def sleeper(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params["s"]))
    return PlainTextResponse("in time")


async def not_routed(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("not a direct route")


def direct() -> DirectRoutes:
    return DirectRoutes(not_routed, {("GET", "/sleep"): sleeper}, max_body=64, timeout=TIMEOUT)


async def get(app: DirectRoutes, seconds: float) -> tuple[int, float]:
    """(status, seconds it took); the task is usable afterwards (no cancel left over)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/sleep",
        "query_string": f"s={seconds}".encode(),
        "headers": [],
    }
    await app(scope, receive, send)
    took = loop.time() - started
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # not cancelled
    return sent[0]["status"], took


def test_each_request_has_its_own_deadline() -> None:
    async def run() -> list[tuple[int, float]]:
        app = direct()
        first = asyncio.create_task(get(app, 30))
        await asyncio.sleep(0.1)
        fast = asyncio.create_task(get(app, 0.05))
        second = asyncio.create_task(get(app, 30))
        await asyncio.sleep(0.1)
        in_time = asyncio.create_task(get(app, 0.15))  # due after the first has expired
        return list(await asyncio.gather(first, fast, second, in_time))

    first, fast, second, in_time = asyncio.run(run())
    assert first[0] == 503 and TIMEOUT <= first[1] < TIMEOUT + 0.1
    assert fast[0] == 200
    assert second[0] == 503 and TIMEOUT <= second[1] < TIMEOUT + 0.1
    assert in_time[0] == 200


def test_one_event_loop_after_another() -> None:
    app = direct()
    for _ in range(2):
        status, took = asyncio.run(get(app, 30))
        assert status == 503 and took < TIMEOUT + 0.1


def test_a_cancellation_from_outside_is_not_a_timeout() -> None:
    async def run() -> None:
        app = direct()
        request = asyncio.create_task(get(app, 30))
        await asyncio.sleep(0.05)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        # and the timer goes on for the others
        assert (await get(app, 30))[0] == 503

    asyncio.run(run())
