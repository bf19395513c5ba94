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
