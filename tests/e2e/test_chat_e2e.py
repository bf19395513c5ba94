"""A real `warroom serve` (API and engine) with the Slack settings in its environment.

A slash command signed by slack_sdk declares an incident; the server's own engine opens
the channel in the local Slack workspace: the settings, the route and the engine job are
wired as a deployment wires them.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from tests.e2e.conftest import (
    EXAMPLES,
    WARROOM,
    _clean_environ,
    _free_port,
    _stop,
    _wait_until_healthy,
)
from warroom.testing.slack_api import FakeSlackWorkspace

SECRET = "0c4f5e6d7a8b9c0d1e2f3a4b5c6d7e8f"
JANE = "U0JANE00001"


def test_a_signed_slash_command_opens_a_channel_through_the_servers_engine(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config"
    shutil.copytree(EXAMPLES, config, ignore=shutil.ignore_patterns("alternate-schemes", "slack"))
    (config / "chat.yaml").write_text("chat:\n  slack:\n    enabled: true\n")
    users = [{"id": JANE, "name": "jane.smith", "email": "jane.smith@example.com"}]
    with FakeSlackWorkspace(users=users, lifetime=60) as slack:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = _clean_environ() | {
            "WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'warroom.db'}",
            "WARROOM_CONFIG": str(config),
            "WARROOM_BOOTSTRAP_TOKEN": secrets.token_urlsafe(30),
            "WARROOM_BASE_URL": url,
            "WARROOM_PORT": str(port),
            "WARROOM_SLACK_TOKEN": slack.token,
            "WARROOM_SLACK_SIGNING_SECRET": SECRET,
            "WARROOM_SLACK_BASE_URL": slack.url,
        }
        log = tmp_path / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*WARROOM, "serve"], env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                _wait_until_healthy(url, process, log)
                body = urlencode(
                    {"command": "/incident", "text": "declare SEV2 Ledger sync stalled",
                     "user_id": JANE, "user_name": "jane.smith", "channel_id": "C0GENERAL"}
                ).encode()  # fmt: skip
                timestamp = str(int(time.time()))
                signature = SignatureVerifier(SECRET).generate_signature(
                    timestamp=timestamp, body=body
                )
                assert signature is not None
                headers = {
                    "X-Slack-Request-Timestamp": timestamp,
                    "X-Slack-Signature": signature,
                    "Content-Type": "application/x-www-form-urlencoded",
                }
                declared = datetime.now(UTC)
                answer = httpx.post(
                    f"{url}/api/v1/integrations/slack/commands", content=body, headers=headers
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["response_type"] == "in_channel", answer.text
                deadline = time.monotonic() + 15
                while "pins.add" not in slack.methods() and time.monotonic() < deadline:
                    time.sleep(0.1)
                channel = slack.channel_named(f"incident-{declared:%Y%m%d}-1")
                assert channel is not None
                # The engine's pages go to the same workspace (direct messages); the channel's
                # calls are exactly these, in this order.
                calls = slack.calls()
                mine = [
                    m == "conversations.create" or a.get("channel") == channel.id for m, a in calls
                ]
                ours = [m for (m, _), is_ours in zip(calls, mine, strict=True) if is_ours]
                assert ours == [
                    "conversations.create",
                    "conversations.invite",
                    "conversations.setTopic",
                    "chat.postMessage",
                    "pins.add",
                ], (calls, log.read_text()[-3000:])
                others = [m for (m, _), is_ours in zip(calls, mine, strict=True) if not is_ours]
                assert set(others) <= {"users.list", "chat.postMessage"}, others
                assert channel.members == [JANE]
                assert SECRET not in log.read_text() and slack.token not in log.read_text()
            finally:
                _stop(process)
