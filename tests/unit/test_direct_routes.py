"""DirectRoutes answers its routes itself, with the app's error shapes, and passes the rest on."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from warroom.direct_routes import DirectRoutes
from warroom.errors import Unauthorized


async def echo(request: Request) -> Response:
    return JSONResponse({"direct": True, "body": (await request.body()).decode()}, 201)


async def refuse(_: Request) -> Response:
    raise Unauthorized("integration key missing")


async def crash(_: Request) -> Response:
    raise RuntimeError("secret detail")


def routed(_: Request) -> Response:
    return PlainTextResponse("through the router")


@pytest.fixture
def client() -> TestClient:
    app = Starlette(routes=[Route("/echo", routed, methods=["GET", "POST"])])
    app.add_middleware(
        DirectRoutes,
        routes={("POST", "/echo"): echo, ("POST", "/refuse"): refuse, ("POST", "/crash"): crash},
    )
    return TestClient(app, raise_server_exceptions=False)


def test_a_direct_route_is_answered_by_its_handler(client: TestClient) -> None:
    answer = client.post("/echo", content=b"hello")
    assert answer.status_code == 201
    assert answer.json() == {"direct": True, "body": "hello"}


def test_other_methods_and_paths_go_through_the_app(client: TestClient) -> None:
    assert client.get("/echo").text == "through the router"
    # Not an exact match: the router answers (here with its trailing-slash redirect).
    assert client.post("/echo/", follow_redirects=False).status_code == 307
    assert client.get("/refuse").status_code == 404


def test_domain_errors_keep_their_shape(client: TestClient) -> None:
    answer = client.post("/refuse")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["error"]["code"] == "unauthorized"


def test_an_unexpected_error_is_a_500_without_details(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    answer = client.post("/crash")
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "secret detail" not in answer.text
    assert "unhandled error on POST /crash" in caplog.text


# --- the guard's rules, applied by DirectRoutes itself for its routes ---------------------


async def slow(_: Request) -> Response:
    import asyncio

    await asyncio.sleep(30)
    return PlainTextResponse("too late")


@pytest.fixture
def guarded() -> TestClient:
    app = Starlette(routes=[Route("/echo", routed, methods=["GET", "POST"])])
    app.add_middleware(
        DirectRoutes,
        routes={("POST", "/echo"): echo, ("GET", "/get"): echo, ("POST", "/slow"): slow},
        max_body=64,
        timeout=0.5,
    )
    return TestClient(app, raise_server_exceptions=False)


def test_a_body_over_the_limit_is_413_before_the_handler(guarded: TestClient) -> None:
    assert guarded.post("/echo", content=b"x" * 64).status_code == 201
    answer = guarded.post("/echo", content=b"x" * 65)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "payload_too_large"

    def chunks():  # no Content-Length: counted while reading
        yield b"x" * 40
        yield b"x" * 40

    assert guarded.post("/echo", content=chunks()).status_code == 413


def test_the_handler_gets_the_body_read_once(guarded: TestClient) -> None:
    assert guarded.post("/echo", content=b"hello").json() == {"direct": True, "body": "hello"}


def test_a_nul_in_a_form_field_or_a_filter_names_it(guarded: TestClient) -> None:
    answer = guarded.post(
        "/echo",
        content=b"a=1&who=x%00y",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["details"][0]["field"] == "who"
    answer = guarded.get("/get?q=%00")
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["field"] == "q"


def test_no_answer_in_time_is_503_with_retry_after(guarded: TestClient) -> None:
    import time

    started = time.monotonic()
    answer = guarded.post("/slow", content=b"{}")
    assert answer.status_code == 503
    assert int(answer.headers["retry-after"]) > 0
    assert time.monotonic() - started < 5
    assert answer.json()["error"]["code"] == "unavailable"


def test_the_apps_direct_routes_take_no_bearer_token() -> None:
    # The guard's authentication and JSON checks apply to bearer routes only: a direct
    # route that needed them would skip them.
    from warroom.app import DIRECT_ROUTES, create_app
    from warroom.hardening.middleware import _bearer_routes

    app = create_app(_context())
    for method, path in DIRECT_ROUTES:
        for pattern, methods in _bearer_routes(app):
            assert not (method in methods and pattern.match(path)), (method, path)


def _context():  # type: ignore[no-untyped-def]
    import tempfile
    from pathlib import Path

    from warroom.app import build_context
    from warroom.settings import Settings

    folder = Path(tempfile.mkdtemp())
    settings = Settings(database_url=f"sqlite:///{folder / 'w.db'}", engine=False)
    return build_context(settings)
