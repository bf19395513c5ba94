"""Every token, key and secret a run used stays out of the server's log (issue 16): the
bootstrap token, a created token, integration keys (in bodies and in URLs), a calendar
feed's secret, a web session, the evidence key — after a run that used them all, and
after requests that failed with them."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.conftest import run_server


def test_no_secret_a_run_used_reaches_the_log(tmp_path: Path) -> None:
    with run_server(f"sqlite:///{tmp_path / 'warroom.db'}", tmp_path) as server:
        admin = {"Authorization": f"Bearer {server.token}"}
        used = [server.token, *server.secrets]
        with httpx.Client(base_url=server.url, timeout=30) as http:
            made = http.post(
                "/api/v1/tokens", json={"name": "ci", "role": "responder"}, headers=admin
            )
            assert made.status_code == 201, made.text
            responder = made.json()["token"]
            used.append(responder)
            keys = {}
            for kind in ("pagerduty", "heartbeat"):
                r = http.post(
                    "/api/v1/integrations",
                    json={
                        "name": f"log-{kind}",
                        "type": kind,
                        "service": "payment-service",
                        **({"settings": {"interval": "5m"}} if kind == "heartbeat" else {}),
                    },
                    headers=admin,
                )
                assert r.status_code == 201, r.text
                keys[kind] = r.json()["key"]
            used += keys.values()
            event = {
                "routing_key": keys["pagerduty"],
                "event_action": "trigger",
                "payload": {"summary": "disk full", "source": "db-1", "severity": "error"},
            }
            assert http.post("/v2/enqueue", json=event).status_code == 202
            # The wrong type of key on a route: refused, and the key still kept out.
            assert http.post(
                "/v2/enqueue", json={**event, "routing_key": keys["heartbeat"]}
            ).status_code in (400, 401)
            assert http.get(f"/api/v1/heartbeats/{keys['heartbeat']}").status_code < 300
            feed = http.post(
                "/api/v1/calendar-feeds", json={"schedule": "incident-commander"}, headers=admin
            )
            assert feed.status_code == 201, feed.text
            feed_url = feed.json()["url"]
            secret = feed_url.rsplit("/", 1)[-1].removesuffix(".ics")
            used.append(secret)
            assert http.get(feed_url).status_code == 200
            # A session: its id is as good as the token while it lasts.
            login = http.post("/login", data={"token": responder}, follow_redirects=False)
            assert login.status_code < 400
            session = http.cookies.get("warroom_session")
            assert session
            used.append(session)
            assert http.get("/").status_code == 200
            # Failures too: a revoked or wrong token, a bad body with a good one.
            bad = {"Authorization": f"Bearer {responder}x"}
            assert http.get("/api/v1/incidents", headers=bad).status_code == 401
            assert http.post("/api/v1/incidents", content=b"{", headers=admin).status_code in (
                400,
                422,
            )
        log = server.log.read_text(errors="replace")
    # The requests carrying keys in their URL were logged, with the key taken out.
    assert "/api/v1/heartbeats/[redacted]" in log and "/calendars/[redacted]" in log, log[-2000:]
    leaked = [value[:6] + "…" for value in used if value and value in log]
    assert leaked == [], f"secrets in the log: {leaked}"
