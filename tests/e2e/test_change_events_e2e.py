"""PagerDuty's own Python clients send change events (and alerts) to a real warroom server.

`pagerduty.EventsApiV2Client` refuses any base URL that is not `https://`, so the server
is reached the way production reaches it: through a TLS terminator in front (nginx, as
Debian ships it), here with a certificate for 127.0.0.1 from a throwaway CA the test makes
with `trustme`. The clients trust that CA the way a user with a private CA configures them
(`verify=` for `pagerduty`, REQUESTS_CA_BUNDLE for `pdpyras`, which uses requests);
nothing in the clients is patched. `pdpyras` is pointed at the same front through its
`url` attribute.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pagerduty
import pytest
import trustme

from tests.e2e.conftest import Server
from tests.e2e.monitoring import free_port, log_tail, require_binary, stop

with warnings.catch_warnings():
    # PagerDuty has deprecated pdpyras in favour of `pagerduty`; senders still run it.
    warnings.filterwarnings("ignore", 'The package "pdpyras" is deprecated', UserWarning)
    import pdpyras

pytestmark = pytest.mark.e2e

STARTUP_TIMEOUT = 15.0

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
{user}
events {{ worker_connections 64; }}
http {{
  access_log {folder}/access.log;
  client_body_temp_path {folder}/body;
  proxy_temp_path {folder}/proxy;
  fastcgi_temp_path {folder}/fastcgi;
  uwsgi_temp_path {folder}/uwsgi;
  scgi_temp_path {folder}/scgi;
  client_max_body_size 1m;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {folder}/server.pem;
    ssl_certificate_key {folder}/server.key;
    location / {{
      proxy_pass {upstream};
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
  }}
}}
"""


@dataclass(frozen=True)
class TlsFront:
    url: str  # https://127.0.0.1:<port>
    ca: Path  # the PEM of the CA that signed its certificate

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def _answers(url: str, ca: Path) -> bool:
    try:
        with httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), timeout=1.0) as c:
            return c.get(f"{url}/healthz").status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def tls_front(upstream: str, folder: Path) -> Iterator[TlsFront]:
    """nginx terminating TLS for `upstream`, with a certificate for 127.0.0.1."""
    nginx = require_binary("nginx", "nginx")
    folder.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1", "localhost")
    issued.cert_chain_pems[0].write_to_path(str(folder / "server.pem"))
    for extra in issued.cert_chain_pems[1:]:
        extra.write_to_path(str(folder / "server.pem"), append=True)
    issued.private_key_pem.write_to_path(str(folder / "server.key"))
    authority.cert_pem.write_to_path(str(folder / "ca.pem"))
    # As root, nginx's workers would switch to an unprivileged user that cannot read here.
    user = "user root root;" if os.geteuid() == 0 else ""
    port = free_port()
    (folder / "nginx.conf").write_text(
        NGINX_CONF.format(folder=folder, port=port, upstream=upstream, user=user)
    )
    log = folder / "nginx.out"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [nginx, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", "stderr"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _answers(url, folder / "ca.pem"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"nginx did not start:\n{log_tail(log)}\n{log_tail(folder / 'error.log')}",
                    pytrace=False,
                )
            time.sleep(0.1)
        yield TlsFront(url=url, ca=folder / "ca.pem")
    finally:
        stop(process)


@pytest.fixture
def front(server: Server, tmp_path: Path) -> Iterator[TlsFront]:
    with tls_front(server.url, tmp_path / "nginx") as running:
        yield running


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _pd_key(server: Server, service: str = "payment-service") -> str:
    r = httpx.post(
        f"{server.url}/api/v1/integrations",
        json={"name": f"pd-{uuid.uuid4().hex[:8]}", "type": "pagerduty", "service": service},
        headers=_auth(server.token),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def _changes(server: Server, **params: Any) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{server.url}/api/v1/changes", params=params, headers=_auth(server.token), timeout=10
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _stored(server: Server, summary: str) -> dict[str, Any]:
    found = [c for c in _changes(server, limit=500) if c["summary"] == summary]
    assert len(found) == 1, f"{summary!r} stored {len(found)} times"
    return found[0]


def test_the_official_client_needs_https(server: Server) -> None:
    """Why the TLS front: the client refuses a plain-HTTP base URL outright."""
    with pytest.raises(pagerduty.UrlError):
        pagerduty.EventsApiV2Client("0" * 32, base_url=server.url)


def test_pagerduty_client_sends_change_events(server: Server, front: TlsFront) -> None:
    key = _pd_key(server)
    marker = uuid.uuid4().hex[:8]
    client = pagerduty.EventsApiV2Client(key, base_url=front.url, verify=front.context())
    try:
        client.send_change_event(
            payload={
                "summary": f"Build Success: payments {marker}",
                "timestamp": "2024-03-15T08:42:58.315+0000",
                "source": "acme-build-pipeline",
                "custom_details": {"build_state": "passed", "build_number": "2"},
            },
            links=[{"href": "https://ci.example/build/2", "text": "build 2"}],
        )
        # The client's `submit` composes the payload; its default timestamp is broken in
        # pagerduty 7.2 (it raises before sending), so a sender passes one.
        client.submit(
            summary=f"Config push {marker}",
            source="config-bot",
            custom_details={"files": 3},
            links=[{"href": "https://git.example/c/abc"}],
            timestamp="2024-03-15T09:00:00Z",
        )
        # Bad input is PagerDuty's 400, which the client raises with the answer attached.
        with pytest.raises(pagerduty.HttpError) as refused:
            client.send_change_event(payload={"source": "no summary"})
        assert refused.value.response.status_code == 400
        assert refused.value.response.json()["errors"] == ["'payload.summary' is missing or blank"]
        # The same client triggers and resolves alerts through the same front.
        dedup = client.trigger(f"Disk full {marker}", "db-1", dedup_key=f"disk-{marker}")
        assert dedup == f"disk-{marker}"
        client.resolve(dedup)
    finally:
        client.close()

    first = _stored(server, f"Build Success: payments {marker}")
    assert first["service"] == "payment-service"
    assert first["timestamp"] == "2024-03-15T08:42:58.315000Z"
    assert first["source"] == "acme-build-pipeline"
    assert first["custom_details"] == {"build_state": "passed", "build_number": "2"}
    assert first["links"] == [{"href": "https://ci.example/build/2", "text": "build 2"}]
    second = _stored(server, f"Config push {marker}")
    assert second["custom_details"] == {"files": 3}
    assert second["links"] == [{"href": "https://git.example/c/abc"}]
    assert second["timestamp"] == "2024-03-15T09:00:00Z"
    r = httpx.get(
        f"{server.url}/api/v1/alerts",
        params={"dedup_key": f"disk-{marker}"},
        headers=_auth(server.token),
        timeout=10,
    )
    [alert] = r.json()["items"]
    assert alert["status"] == "resolved"


@pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning:pdpyras")
def test_pdpyras_sends_change_events(
    server: Server, front: TlsFront, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _pd_key(server, service="web-app")
    marker = uuid.uuid4().hex[:8]
    # requests takes REQUESTS_CA_BUNDLE over a session's `verify` when it is set (as it is
    # on many machines): a private CA goes there.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(front.ca))
    session = pdpyras.ChangeEventsAPISession(key)
    session.url = front.url
    try:
        # With its own default timestamp (UTC, with a trailing Z).
        session.submit(f"Deploy web-app {marker}", source="ci", custom_details={"sha": "abc"})
        # Its lower-level call sends the properties as given: the routing key among them.
        session.send_change_event(
            routing_key=key,
            payload={"summary": f"Feature flag {marker}", "source": "flags"},
            links=[{"href": "https://flags.example/f/1", "text": "flag"}],
        )
        with pytest.raises(pdpyras.PDClientError) as refused:
            session.send_change_event(routing_key=key, payload={"summary": "x" * 1025})
        assert refused.value.response is not None
        assert refused.value.response.status_code == 400
        assert refused.value.response.json()["errors"] == [
            "'payload.summary' is too long (max 1024 characters)"
        ]
    finally:
        session.close()

    deploy = _stored(server, f"Deploy web-app {marker}")
    assert deploy["service"] == "web-app"
    assert deploy["source"] == "ci"
    assert deploy["custom_details"] == {"sha": "abc"}
    flag = _stored(server, f"Feature flag {marker}")
    assert flag["links"] == [{"href": "https://flags.example/f/1", "text": "flag"}]
    assert [c["summary"] for c in _changes(server, service="web-app", limit=500)].count(
        f"Deploy web-app {marker}"
    ) == 1


def test_a_change_sent_with_a_client_reaches_an_open_incident(
    server: Server, front: TlsFront
) -> None:
    key = _pd_key(server, service="search")
    r = httpx.post(
        f"{server.url}/api/v1/incidents",
        json={"title": "Search is slow", "severity": "SEV3", "services": ["search"]},
        headers=_auth(server.token),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    incident = r.json()["id"]
    marker = uuid.uuid4().hex[:8]
    client = pagerduty.EventsApiV2Client(key, base_url=front.url, verify=front.context())
    try:
        client.send_change_event(payload={"summary": f"Rollback search {marker}"})
    finally:
        client.close()
    r = httpx.get(
        f"{server.url}/api/v1/incidents/{incident}/timeline",
        headers=_auth(server.token),
        timeout=10,
    )
    descriptions = [e["description"] for e in r.json()["events"] if e["type"] == "change"]
    assert f"Change on search: Rollback search {marker}" in descriptions
