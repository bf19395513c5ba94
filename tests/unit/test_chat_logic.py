"""Chat rules: Slack signatures (checked against slack_sdk's own verifier), names, commands."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.signature import Clock, SignatureVerifier

from warroom.chat import logic

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)


class _At(Clock):
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> float:
        return self.at.timestamp()


def _sign(body: bytes, at: datetime = NOW) -> tuple[str, str]:
    timestamp = str(int(at.timestamp()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return timestamp, signature


def test_our_signature_is_slacks() -> None:
    body = b"token=x&team_id=T1&command=%2Fincident&text=ack"
    timestamp = str(int(NOW.timestamp()))
    ours = logic.slack_signature(SECRET, timestamp, body)
    verifier = SignatureVerifier(SECRET, clock=_At(NOW))
    assert verifier.is_valid(body=body, timestamp=timestamp, signature=ours)


def test_a_request_signed_by_slack_sdk_verifies() -> None:
    body = b'{"type":"url_verification","challenge":"abc"}'
    timestamp, signature = _sign(body)
    problem = logic.signature_problem(
        secret=SECRET, timestamp=timestamp, signature=signature, body=body, now=NOW
    )
    assert problem is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("body", "does not match"),
        ("secret", "does not match"),
        ("stale", "5-minute window"),
        ("future", "5-minute window"),
        ("missing", "missing"),
        ("garbage_ts", "not a number"),
    ],
)
def test_tampered_stale_or_missing_signatures_are_refused(change: str, expected: str) -> None:
    body = b"text=resolve"
    timestamp, signature = _sign(body)
    kwargs = {"secret": SECRET, "timestamp": timestamp, "signature": signature, "body": body}
    if change == "body":
        kwargs["body"] = b"text=resolve+INC-2"
    elif change == "secret":
        kwargs["secret"] = "another-secret"
    elif change == "stale":
        kwargs["timestamp"], kwargs["signature"] = _sign(body, NOW.replace(minute=24))
    elif change == "future":
        kwargs["timestamp"], kwargs["signature"] = _sign(body, NOW.replace(minute=36))
    elif change == "missing":
        kwargs["signature"] = None
    else:
        kwargs["timestamp"] = "yesterday"
    problem = logic.signature_problem(now=NOW, **kwargs)  # type: ignore[arg-type]
    assert problem is not None and expected in problem


def test_just_inside_the_window_is_accepted() -> None:
    body = b"text=help"
    timestamp, signature = _sign(body, NOW.replace(minute=25, second=1))
    assert (
        logic.signature_problem(
            secret=SECRET, timestamp=timestamp, signature=signature, body=body, now=NOW
        )
        is None
    )


def test_channel_names_follow_slacks_rules() -> None:
    name = logic.channel_name(
        "inc-{number}-{title}",
        number=42,
        title="Payment processing failing!",
        severity="SEV1",
        at=NOW,
    )
    assert name == "inc-42-payment-processing-failing"
    dated = logic.channel_name(
        "incident-{date}-{number}", number=7, title="x", severity="SEV2", at=NOW
    )
    assert dated == "incident-20240315-7"
    long = logic.channel_name(
        "inc-{number}-{title}-{severity}", number=3, title="Ünïcode " * 30, severity="SEV1", at=NOW
    )
    assert len(long) <= 80 and long.startswith("inc-3-unicode-") and long.endswith("-sev1")
    assert all(c.islower() or c.isdigit() or c in "-_" for c in long)


def test_suffixes_keep_names_unique_and_short() -> None:
    assert logic.with_suffix("inc-1-db", 1) == "inc-1-db"
    assert logic.with_suffix("inc-1-db", 3) == "inc-1-db-3"
    assert len(logic.with_suffix("a" * 80, 12)) == 80


def test_commands_parse_incident_and_arguments() -> None:
    assert logic.parse_command("") == logic.Command("help")
    cmd = logic.parse_command("status INC-4 identified Connection leak")
    assert cmd == logic.Command("status", "INC-4", ("identified",), "Connection leak")
    assert logic.parse_command("ack").incident is None
    assert logic.parse_command("claim 12 ic") == logic.Command("claim", "INC-12", ("ic",), "")
    declared = logic.parse_command("declare SEV1 Payment processing failing")
    assert declared.rest == "SEV1 Payment processing failing"
    with pytest.raises(logic.CommandError, match="unknown command"):
        logic.parse_command("explode now")
    with pytest.raises(logic.CommandError, match="usage"):
        logic.parse_command("assign INC-3 ic")


def test_update_and_handoff_parse_and_say_their_usage() -> None:
    update = logic.parse_command("update INC-7 internal,executive Failover done, watching")
    assert update == logic.Command(
        "update", "INC-7", ("internal,executive",), "Failover done, watching"
    )
    with pytest.raises(logic.CommandError, match="update \\[INC-N\\] AUDIENCE"):
        logic.parse_command("update INC-7 internal")  # no message
    handoff = logic.parse_command("handoff <@U0BOB000001|bob.wilson>")
    assert handoff == logic.Command("handoff", None, ("<@U0BOB000001|bob.wilson>",), "")
    assert logic.parse_command("handoff 7 confirm").args == ("confirm",)
    with pytest.raises(logic.CommandError, match="handoff \\[INC-N\\] @user"):
        logic.parse_command("handoff INC-7")
    assert "`update [INC-N]" in logic.HELP and "`handoff [INC-N] @user`" in logic.HELP


def test_the_status_form_offers_the_open_statuses_and_carries_the_incident() -> None:
    modal = logic.status_modal("INC-7", ["investigating", "resolved"])
    assert modal["callback_id"] == logic.STATUS_CALLBACK and modal["private_metadata"] == "INC-7"
    options = modal["blocks"][0]["element"]["options"]
    assert [o["value"] for o in options] == ["investigating", "resolved"]
    view = {
        "state": {
            "values": {
                "status": {"value": {"selected_option": {"value": "resolved"}}},
                "message": {"value": {"value": " Done "}},
            }
        }
    }
    assert logic.submitted(view, "status") == "resolved"
    assert logic.submitted(view, "message") == "Done"


def test_roles_and_mentions() -> None:
    assert logic.role_name("IC") == "incident_commander"
    assert logic.role_name("technical-lead") == "technical_lead"
    assert logic.mentioned_user("<@U012AB3CD|jane>") == ("U012AB3CD", "jane")
    assert logic.mentioned_user("@bob") == (None, "bob")


def test_opening_message_escapes_and_offers_buttons() -> None:
    view = logic.IncidentView(
        key="INC-9",
        title="<script> & co",
        severity="SEV1",
        status="investigating",
        roles={"incident_commander": "jane"},
        people={"jane": "Jane Doe"},
        required_roles=("incident_commander", "communications_lead"),
    )
    blocks = logic.opening_blocks(view)
    text = str(blocks)
    assert "Jane Doe" in text and "Communications lead: unassigned" in text
    assert "&lt;script&gt; &amp; co" not in blocks[0]["text"]["text"]  # plain_text header
    actions = next(b for b in blocks if b["type"] == "actions")["elements"]
    assert [a["action_id"] for a in actions] == [
        "warroom_ack",
        "warroom_claim_ic",
        "warroom_update_status",
        "warroom_resolve",
    ]
    assert logic.topic(view) == "SEV1 - <script> & co - IC: Jane Doe - investigating"


@given(
    title=st.text(max_size=300),
    number=st.integers(min_value=1, max_value=10**12),
    pattern=st.sampled_from(
        [
            "inc-{number}-{title}",
            "{title}-{number}",
            "incident-{date}-{number}",
            "{severity}_{number}_{title}",
            "{number}",
        ]
    ),
    attempt=st.integers(min_value=1, max_value=20),
)
def test_every_channel_name_is_one_slack_accepts(
    title: str, number: int, pattern: str, attempt: int
) -> None:
    name = logic.with_suffix(
        logic.channel_name(pattern, number=number, title=title, severity="SEV1", at=NOW), attempt
    )
    assert re.fullmatch(r"[a-z0-9_-]{1,80}", name), name
    assert str(number) in name
