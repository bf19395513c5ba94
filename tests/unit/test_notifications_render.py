"""What each channel says: pure rendering from plain data."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warroom.notifications.ports import (
    PermanentFailure,
    TemporaryFailure,
    failure_for_status,
    parse_retry_after,
    redact,
)
from warroom.notifications.render import (
    SMS_LIMIT,
    SMS_TARGET,
    MessageContext,
    MessageKind,
    TimelineLine,
    render,
    slack_escape,
)

STARTED = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)
ACK = "https://warroom.example/ack/9f8e7d6c5b4a"


def page(**changes: object) -> MessageContext:
    values: dict[str, object] = {
        "kind": MessageKind.PAGE,
        "title": "Checkout API returns 500s",
        "incident": "INC-42",
        "severity": "SEV1",
        "status": "investigating",
        "reason": "You are the primary on call for payments-api.",
        "ack_url": ACK,
        "incident_url": "https://warroom.example/incidents/INC-42",
        "services": ("payments-api", "checkout"),
        "timeline": (
            TimelineLine(STARTED, "Alert fired: HighErrorRate"),
            TimelineLine(STARTED + timedelta(minutes=2), "Incident declared by jane.smith"),
        ),
        "started_at": STARTED,
        "commander": "Jane Smith",
    }
    values.update(changes)
    return MessageContext(**values)  # type: ignore[arg-type]


# --- email ------------------------------------------------------------------------------


def test_email_follows_the_seed_notification_template() -> None:
    rendered = render("email", page())
    assert rendered.subject == "[SEV1] INCIDENT: Checkout API returns 500s"
    body = rendered.body
    assert "INCIDENT DETAILS:\n- Severity: SEV1\n- System: payments-api, checkout\n" in body
    assert "- Status: investigating\n- Started: 2024-03-15 09:30 UTC\n- Incident ID: INC-42" in body
    assert "- Incident Commander: Jane Smith" in body
    assert "WHY YOU ARE RECEIVING THIS:\n- You are the primary on call" in body
    assert "RECENT TIMELINE:\n- 2024-03-15 09:30 UTC  Alert fired: HighErrorRate" in body
    assert f"ACKNOWLEDGE:\n{ACK}" in body


def test_email_uses_the_configured_severity_name_and_kind() -> None:
    assert render("email", page(severity="P0")).subject.startswith("[P0] INCIDENT: ")
    escalation = render("email", page(kind=MessageKind.ESCALATION))
    assert escalation.subject == "[SEV1] ESCALATION: Checkout API returns 500s"
    assert render("email", page(kind=MessageKind.SLA)).subject.startswith("[SEV1] SLA: ")
    assert render("email", page(kind=MessageKind.REMINDER)).subject.startswith(
        "[SEV1] UPDATE DUE: "
    )
    assert render("email", page(severity=None)).subject == "INCIDENT: Checkout API returns 500s"


def test_email_times_are_in_the_recipients_zone() -> None:
    body = render("email", page(timezone="America/New_York")).body
    assert "- Started: 2024-03-15 05:30 EDT" in body
    assert "- Started: 2024-03-15 09:30 UTC" in render("email", page(timezone="Nowhere/X")).body


def test_a_subject_is_one_bounded_line() -> None:
    subject = render("email", page(title="Line one\r\nBcc: evil@example.com " + "x" * 500)).subject
    assert "\n" not in subject and "\r" not in subject
    assert len(subject) <= 200 and subject.endswith("...")


def test_shift_email_names_the_schedule_and_times() -> None:
    shift = MessageContext(
        kind=MessageKind.SHIFT,
        title="Your on-call shift on Payments primary starts soon",
        schedule="payments-primary",
        shift_start=STARTED,
        shift_end=STARTED + timedelta(days=7),
        timezone="Europe/London",
    )
    rendered = render("email", shift)
    assert rendered.subject == "ON-CALL: Your on-call shift on Payments primary starts soon"
    assert "SHIFT DETAILS:" in rendered.body
    assert "- Shift starts: 2024-03-15 09:30 GMT" in rendered.body
    assert "- Shift ends: 2024-03-22 09:30 GMT" in rendered.body
    assert "ACKNOWLEDGE" not in rendered.body


# --- sms --------------------------------------------------------------------------------


def test_sms_fits_one_segment_with_the_ack_link() -> None:
    body = render("sms", page()).body
    assert body.startswith("[SEV1] INCIDENT INC-42: Checkout API returns 500s (investigating)")
    assert body.endswith(f"Ack: {ACK}")
    assert len(body) <= SMS_TARGET


def test_sms_truncates_a_long_title_but_keeps_the_link() -> None:
    body = render("sms", page(title="Everything is on fire " * 20)).body
    assert len(body) <= SMS_TARGET
    assert "..." in body and body.endswith(f"Ack: {ACK}")


def test_sms_with_a_long_link_uses_two_segments() -> None:
    long_ack = "https://warroom.example/ack/" + "a" * 120
    body = render("sms", page(ack_url=long_ack)).body
    assert SMS_TARGET < len(body) <= SMS_LIMIT
    assert body.endswith(long_ack)


@given(
    title=st.text(min_size=1, max_size=600),
    reason=st.text(max_size=400),
    ack=st.one_of(st.none(), st.text(min_size=1, max_size=300)),
    severity=st.one_of(st.none(), st.text(min_size=1, max_size=16)),
)
def test_sms_never_exceeds_the_limit(
    title: str, reason: str, ack: str | None, severity: str | None
) -> None:
    body = render("sms", page(title=title, reason=reason, ack_url=ack, severity=severity)).body
    assert len(body) <= SMS_LIMIT


# --- voice ------------------------------------------------------------------------------


def test_voice_is_a_short_sentence_in_escaped_twiml() -> None:
    rendered = render("voice", page(title="DB <primary> & replica down"))
    assert rendered.body.startswith("This is warroom. You are paged for SEV1 incident INC-42:")
    assert "DB <primary> & replica down." in rendered.body
    assert len(rendered.body) < 400
    twiml = rendered.payload["twiml"]
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    say = root.find("Say")
    assert say is not None and say.text == rendered.body
    assert say.get("loop") == "2"


@given(title=st.text(min_size=1, max_size=300).filter(lambda t: t.isprintable()))
def test_voice_twiml_is_always_well_formed(title: str) -> None:
    twiml = render("voice", page(title=title)).payload["twiml"]
    ET.fromstring(twiml)


# --- slack ------------------------------------------------------------------------------


def test_slack_blocks_have_header_facts_and_ack_button() -> None:
    rendered = render("slack", page(title="a < b & c > d"))
    blocks = rendered.payload["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "[SEV1] INCIDENT: a < b & c > d"},
    }
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert "*Severity*\nSEV1" in fields and "*Incident ID*\nINC-42" in fields
    assert blocks[2]["type"] == "context"
    assert "Alert fired: HighErrorRate" in blocks[3]["text"]["text"]
    ack = blocks[-1]["elements"][0]
    assert ack["url"] == ACK and ack["style"] == "primary"
    assert rendered.body.startswith("[SEV1] INCIDENT: a < b & c > d")
    json.dumps(blocks)


def test_slack_text_escapes_control_characters() -> None:
    assert slack_escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    rendered = render("slack", page(reason="<!channel> look"))
    assert rendered.payload["blocks"][2]["elements"][0]["text"] == "&lt;!channel&gt; look"


def test_slack_header_is_within_slacks_limit() -> None:
    header = render("slack", page(title="x" * 400)).payload["blocks"][0]["text"]["text"]
    assert len(header) <= 150


# --- teams and webhook ------------------------------------------------------------------


def test_teams_message_card() -> None:
    card = render("teams", page()).payload["card"]
    assert card["@type"] == "MessageCard"
    assert card["summary"] == card["title"] == "[SEV1] INCIDENT: Checkout API returns 500s"
    assert {"name": "Severity", "value": "SEV1"} in card["sections"][0]["facts"]
    assert card["potentialAction"][0]["targets"][0]["uri"] == ACK


def test_teams_adaptive_card() -> None:
    message = render("teams", page(), teams_format="adaptive").payload["card"]
    content = message["attachments"][0]["content"]
    assert message["type"] == "message"
    assert content["type"] == "AdaptiveCard"
    assert content["actions"][0] == {"type": "Action.OpenUrl", "title": "Acknowledge", "url": ACK}


def test_webhook_document() -> None:
    document = render("webhook", page()).payload["document"]
    assert document["version"] == 1 and document["event"] == "incident.page"
    assert document["incident"]["key"] == "INC-42"
    assert document["incident"]["services"] == ["payments-api", "checkout"]
    assert document["incident"]["started_at"] == "2024-03-15T09:30:00+00:00"
    assert document["timeline"][1]["text"] == "Incident declared by jane.smith"
    assert document["ack_url"] == ACK
    json.dumps(document)
    shift = render("webhook", MessageContext(kind=MessageKind.SHIFT, title="Shift"))
    assert shift.payload["document"]["event"] == "oncall.shift"


def test_unknown_channel_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown channel"):
        render("pager", page())


# --- classification helpers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "temporary"),
    [(500, True), (503, True), (429, True), (408, True), (400, False), (401, False), (404, False)],
)
def test_status_classification(status: int, temporary: bool) -> None:
    failure = failure_for_status(status, "x", retry_after=3)
    assert isinstance(failure, TemporaryFailure if temporary else PermanentFailure)
    if temporary:
        assert isinstance(failure, TemporaryFailure) and failure.retry_after == 3


def test_retry_after_reads_seconds_and_dates() -> None:
    now = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Fri, 15 Mar 2024 09:31:00 GMT", now=now) == 60
    assert parse_retry_after("Fri, 15 Mar 2024 09:00:00 GMT", now=now) == 0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None


def test_redact() -> None:
    assert redact("token abc123 failed", "abc123", None, "") == "token *** failed"
