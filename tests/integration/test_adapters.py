"""Each real notification adapter against its local fake provider (real servers on 127.0.0.1).

Success records the provider's id; 5xx and 429 are temporary (429 with Retry-After);
4xx are permanent; a provider that is down is temporary; no secret leaks into a reason.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from warroom.adapters.email import SmtpNotifier, message_id
from warroom.adapters.registry import NotifierRegistry, build_notifiers
from warroom.adapters.slack import SlackNotifier
from warroom.adapters.teams import TeamsNotifier
from warroom.adapters.twilio import TwilioNotifier
from warroom.adapters.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookNotifier,
    sign,
    verify_signature,
)
from warroom.notifications.ports import (
    Notifier,
    OutgoingMessage,
    PermanentFailure,
    TemporaryFailure,
)
from warroom.notifications.render import MessageContext, MessageKind, render
from warroom.settings import Settings
from warroom.testing import FakeSlack, FakeSmtp, FakeTeams, FakeTwilio, FakeWebhookReceiver

PHONE = "+15550110"
CONTEXT = MessageContext(
    kind=MessageKind.PAGE,
    title="Checkout is down <for everyone> & more",
    incident="INC-42",
    severity="SEV1",
    status="investigating",
    reason="You are on call for payments-api (primary).",
    ack_url="https://warroom.example/ack/abc123",
    incident_url="https://warroom.example/incidents/INC-42",
    services=("payments-api",),
    started_at=datetime(2024, 3, 15, 9, 30, tzinfo=UTC),
)


def message(channel: str, address: str, key: str = "page-INC-42-jane-1") -> OutgoingMessage:
    rendered = render(channel, CONTEXT)
    return OutgoingMessage(
        channel=channel,
        address=address,
        subject=rendered.subject,
        body=rendered.body,
        idempotency_key=key,
        ack_url=CONTEXT.ack_url,
        incident=CONTEXT.incident,
        payload=rendered.payload,
    )


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: every read times out."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


# --- email --------------------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    with FakeSmtp() as server:
        yield server


def smtp_notifier(server: FakeSmtp, **options: object) -> SmtpNotifier:
    return SmtpNotifier(
        host=server.host,
        port=server.port,
        sender="Warroom <warroom@example.org>",
        starttls=False,
        timeout=2.0,
        **options,  # type: ignore[arg-type]
    )


def test_email_arrives_with_subject_message_id_and_body(smtp: FakeSmtp) -> None:
    result = smtp_notifier(smtp).send(message("email", "jane.smith@example.com"))

    [email] = smtp.emails
    assert email["Subject"] == "[SEV1] INCIDENT: Checkout is down <for everyone> & more"
    assert email["Message-ID"] == "<page-INC-42-jane-1@example.org>"
    assert result.provider_id == email["Message-ID"]
    assert email["To"] == "jane.smith@example.com"
    assert email["X-Warroom-Incident"] == "INC-42"
    assert email["Auto-Submitted"] == "auto-generated"
    body = email.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "- Incident ID: INC-42" in text
    assert "https://warroom.example/ack/abc123" in text
    smtp.expect_exactly(("jane.smith@example.com", "INCIDENT", "ACKNOWLEDGE"))
    smtp.expect_none()


def test_a_retried_email_keeps_its_message_id(smtp: FakeSmtp) -> None:
    notifier = smtp_notifier(smtp)
    notifier.send(message("email", "jane.smith@example.com", key="k:1/retry"))
    notifier.send(message("email", "jane.smith@example.com", key="k:1/retry"))
    ids = {e["Message-ID"] for e in smtp.emails}
    assert ids == {message_id("k:1/retry", "example.org")}
    assert len(ids.pop()) < 200


def test_refused_recipient_is_permanent(smtp: FakeSmtp) -> None:
    smtp.refuse("gone@example.com")
    with pytest.raises(PermanentFailure, match="550"):
        smtp_notifier(smtp).send(message("email", "gone@example.com"))
    smtp.expect_none()


def test_smtp_4xx_is_temporary_then_delivers(smtp: FakeSmtp) -> None:
    notifier = smtp_notifier(smtp)
    smtp.fail_next(1, code=451)
    with pytest.raises(TemporaryFailure, match="451"):
        notifier.send(message("email", "jane.smith@example.com"))
    notifier.send(message("email", "jane.smith@example.com"))
    smtp.expect_exactly(("jane.smith@example.com", "Checkout"))


def test_smtp_down_is_temporary(smtp: FakeSmtp) -> None:
    notifier = smtp_notifier(smtp)
    with smtp.outage(), pytest.raises(TemporaryFailure, match="cannot reach SMTP"):
        notifier.send(message("email", "jane.smith@example.com"))
    notifier.send(message("email", "jane.smith@example.com"))
    smtp.expect_exactly(("jane.smith@example.com",))


def test_smtp_silence_times_out_as_temporary(silent_port: int) -> None:
    notifier = SmtpNotifier(
        host="127.0.0.1", port=silent_port, sender="w@example.org", starttls=False, timeout=0.3
    )
    started = time.monotonic()
    with pytest.raises(TemporaryFailure):
        notifier.send(message("email", "jane.smith@example.com"))
    assert time.monotonic() - started < 3


def test_smtp_login_and_a_wrong_password_does_not_leak() -> None:
    with FakeSmtp(username="warroom", password="right-password-123") as server:
        smtp_notifier(server, username="warroom", password="right-password-123").send(
            message("email", "jane.smith@example.com")
        )
        server.expect_exactly(("jane.smith@example.com",))
        wrong = smtp_notifier(server, username="warroom", password="wrong-password-456")
        with pytest.raises(PermanentFailure) as failure:
            wrong.send(message("email", "jane.smith@example.com"))
        assert "535" in failure.value.reason
        assert "wrong-password-456" not in str(failure.value)
        assert "wrong-password-456" not in repr(wrong)
        server.expect_none()


def test_starttls_required_but_not_offered_is_permanent(smtp: FakeSmtp) -> None:
    notifier = SmtpNotifier(host=smtp.host, port=smtp.port, sender="w@example.org", timeout=2.0)
    with pytest.raises(PermanentFailure, match="STARTTLS"):
        notifier.send(message("email", "jane.smith@example.com"))
    smtp.expect_none()


def test_a_newline_in_the_address_is_permanent(smtp: FakeSmtp) -> None:
    with pytest.raises(PermanentFailure):
        smtp_notifier(smtp).send(message("email", "a@example.com\nBcc: b@example.com"))
    smtp.expect_none()


# --- Twilio -------------------------------------------------------------------------------


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def twilio_notifier(twilio: FakeTwilio) -> Iterator[TwilioNotifier]:
    notifier = TwilioNotifier(
        account_sid=twilio.account_sid,
        auth_token=twilio.auth_token,
        from_number="+15550999",
        base_url=twilio.url,
        timeout=2.0,
    )
    yield notifier
    notifier.close()


def test_sms_is_sent_and_its_sid_recorded(
    twilio: FakeTwilio, twilio_notifier: TwilioNotifier
) -> None:
    result = twilio_notifier.send(message("sms", PHONE))
    [sms] = twilio.sms
    assert result.provider_id == sms.data["sid"] and sms.data["sid"].startswith("SM")
    assert sms.data["from"] == "+15550999"
    assert len(sms.text) <= 160
    request = twilio.requests[0]
    assert request.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    assert request.form()["To"] == PHONE
    twilio.expect_exactly((PHONE, "[SEV1] INCIDENT INC-42", "Ack: https://warroom.example/ack"))


def test_voice_call_reads_the_escaped_message(
    twilio: FakeTwilio, twilio_notifier: TwilioNotifier
) -> None:
    result = twilio_notifier.send(message("voice", PHONE))
    [call] = twilio.calls
    assert result.provider_id == call.data["sid"] and call.data["sid"].startswith("CA")
    assert "&lt;for everyone&gt; &amp; more" in call.data["twiml"]
    twilio.expect_exactly((PHONE, "SEV1 incident INC-42", "<for everyone> & more"))


def test_voice_without_rendered_twiml_builds_it(
    twilio: FakeTwilio, twilio_notifier: TwilioNotifier
) -> None:
    plain = OutgoingMessage(
        channel="voice", address=PHONE, subject="", body="Hello <there>", idempotency_key="v1"
    )
    twilio_notifier.send(plain)
    twilio.expect_exactly((PHONE, "Hello <there>"))


@pytest.mark.parametrize("status", [500, 502, 503])
def test_twilio_5xx_is_temporary(
    twilio: FakeTwilio, twilio_notifier: TwilioNotifier, status: int
) -> None:
    twilio.fail_next(status=status)
    with pytest.raises(TemporaryFailure, match=str(status)):
        twilio_notifier.send(message("sms", PHONE))
    twilio.expect_none()


def test_twilio_429_is_temporary_with_retry_after(
    twilio: FakeTwilio, twilio_notifier: TwilioNotifier
) -> None:
    twilio.fail_next(status=429, retry_after=30)
    with pytest.raises(TemporaryFailure) as failure:
        twilio_notifier.send(message("sms", PHONE))
    assert failure.value.retry_after == 30
    twilio_notifier.send(message("sms", PHONE))
    twilio.expect_exactly((PHONE,))


def test_twilio_bad_number_is_permanent(
    twilio: FakeTwilio, twilio_notifier: TwilioNotifier
) -> None:
    with pytest.raises(PermanentFailure, match="21211"):
        twilio_notifier.send(message("sms", "555-not-a-number"))
    twilio.expect_none()


def test_twilio_bad_credentials_are_permanent_and_not_leaked(twilio: FakeTwilio) -> None:
    notifier = TwilioNotifier(
        account_sid=twilio.account_sid,
        auth_token="wrong-token-789",
        from_number="+15550999",
        base_url=twilio.url,
    )
    try:
        with pytest.raises(PermanentFailure) as failure:
            notifier.send(message("sms", PHONE))
    finally:
        notifier.close()
    assert "HTTP 401" in failure.value.reason and "20003" in failure.value.reason
    assert "wrong-token-789" not in str(failure.value) + repr(failure.value) + repr(notifier)
    twilio.expect_none()


def test_twilio_down_is_temporary(twilio: FakeTwilio, twilio_notifier: TwilioNotifier) -> None:
    with twilio.outage(), pytest.raises(TemporaryFailure, match="cannot reach Twilio"):
        twilio_notifier.send(message("sms", PHONE))
    twilio_notifier.send(message("sms", PHONE))
    twilio.expect_exactly((PHONE,))


def test_twilio_silence_times_out_as_temporary(silent_port: int) -> None:
    notifier = TwilioNotifier(
        account_sid="AC1",
        auth_token="t",
        from_number="+15550999",
        base_url=f"http://127.0.0.1:{silent_port}",
        timeout=0.3,
    )
    try:
        with pytest.raises(TemporaryFailure, match="timed out"):
            notifier.send(message("sms", PHONE))
    finally:
        notifier.close()


# --- Slack --------------------------------------------------------------------------------

MEMBERS = [
    {"id": "U0JANE0001", "name": "jane.smith", "email": "jane.smith@example.com"},
    {"id": "U0BOB00002", "name": "bob.wilson", "email": "bob.wilson@example.com"},
]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(users=MEMBERS, channels={"#incidents", "C0INCIDENT"}) as server:
        yield server


@pytest.fixture
def slack_notifier(slack: FakeSlack) -> SlackNotifier:
    return SlackNotifier(token=slack.token, base_url=slack.url, timeout=2.0)


def test_slack_posts_blocks_to_a_channel_and_records_ts(
    slack: FakeSlack, slack_notifier: SlackNotifier
) -> None:
    result = slack_notifier.send(message("slack", "#incidents"))
    [post] = slack.messages
    assert result.provider_id == post.data["ts"]
    assert post.data["blocks"][0]["type"] == "header"
    actions = post.data["blocks"][-1]["elements"]
    assert actions[0]["url"] == "https://warroom.example/ack/abc123"
    assert post.data["metadata"]["event_payload"]["idempotency_key"] == "page-INC-42-jane-1"
    slack.expect_exactly(("#incidents", "[SEV1] INCIDENT: Checkout is down"))


@pytest.mark.parametrize(
    ("address", "conversation"),
    [
        ("@jane.smith", "U0JANE0001"),
        ("bob.wilson@example.com", "U0BOB00002"),
        ("U0BOB00002", "U0BOB00002"),
    ],
)
def test_slack_direct_messages_a_user(
    slack: FakeSlack, slack_notifier: SlackNotifier, address: str, conversation: str
) -> None:
    slack_notifier.send(message("slack", address))
    slack.expect_exactly((conversation, "INC-42"))


def test_slack_unknown_user_and_channel_are_permanent(
    slack: FakeSlack, slack_notifier: SlackNotifier
) -> None:
    with pytest.raises(PermanentFailure, match="@nobody"):
        slack_notifier.send(message("slack", "@nobody"))
    with pytest.raises(PermanentFailure, match="users_not_found"):
        slack_notifier.send(message("slack", "nobody@example.com"))
    with pytest.raises(PermanentFailure, match="channel_not_found"):
        slack_notifier.send(message("slack", "#nowhere"))
    slack.expect_none()


def test_slack_ratelimited_is_temporary_with_retry_after(
    slack: FakeSlack, slack_notifier: SlackNotifier
) -> None:
    slack.fail_next(status=429, retry_after=12)
    with pytest.raises(TemporaryFailure, match="ratelimited") as failure:
        slack_notifier.send(message("slack", "#incidents"))
    assert failure.value.retry_after == 12
    slack_notifier.send(message("slack", "#incidents"))
    slack.expect_exactly(("#incidents",))


def test_slack_5xx_and_fatal_error_are_temporary(
    slack: FakeSlack, slack_notifier: SlackNotifier
) -> None:
    slack.fail_next(status=503)
    with pytest.raises(TemporaryFailure, match="HTTP 503"):
        slack_notifier.send(message("slack", "#incidents"))
    slack.fail_next_with("fatal_error")
    with pytest.raises(TemporaryFailure, match="fatal_error"):
        slack_notifier.send(message("slack", "#incidents"))
    slack.expect_none()


def test_slack_invalid_auth_is_permanent_and_not_leaked(slack: FakeSlack) -> None:
    notifier = SlackNotifier(token="xoxb-wrong-token-000", base_url=slack.url)
    with pytest.raises(PermanentFailure, match="invalid_auth") as failure:
        notifier.send(message("slack", "#incidents"))
    assert "xoxb-wrong-token-000" not in str(failure.value) + repr(notifier)
    slack.expect_none()


def test_slack_down_is_temporary(slack: FakeSlack, slack_notifier: SlackNotifier) -> None:
    with slack.outage(), pytest.raises(TemporaryFailure, match="cannot reach Slack"):
        slack_notifier.send(message("slack", "#incidents"))
    slack_notifier.send(message("slack", "#incidents"))
    slack.expect_exactly(("#incidents",))


# --- signed webhooks ----------------------------------------------------------------------

SECRET = "whsec-test-0123456789"


@pytest.fixture
def receiver() -> Iterator[FakeWebhookReceiver]:
    with FakeWebhookReceiver(secret=SECRET) as server:
        yield server


@pytest.fixture
def webhook_notifier() -> Iterator[WebhookNotifier]:
    notifier = WebhookNotifier(secret=SECRET, timeout=2.0)
    yield notifier
    notifier.close()


def test_webhook_is_signed_and_verifies(
    receiver: FakeWebhookReceiver, webhook_notifier: WebhookNotifier
) -> None:
    webhook_notifier.send(message("webhook", receiver.url))
    [hook] = receiver.messages
    assert hook.data["signature_valid"] is True
    request = receiver.requests[0]
    assert request.header("Idempotency-Key") == "page-INC-42-jane-1"
    assert request.header(SIGNATURE_HEADER) == sign(
        SECRET, request.header(TIMESTAMP_HEADER) or "", request.body
    )
    document = request.json()
    assert document["event"] == "incident.page"
    assert document["incident"]["key"] == "INC-42"
    assert document["ack_url"] == "https://warroom.example/ack/abc123"
    assert document["idempotency_key"] == "page-INC-42-jane-1"
    receiver.expect_exactly((receiver.url, "incident.page"))


def test_a_tampered_or_stale_webhook_fails_verification(
    receiver: FakeWebhookReceiver, webhook_notifier: WebhookNotifier
) -> None:
    webhook_notifier.send(message("webhook", receiver.url))
    request = receiver.requests[0]
    timestamp = request.header(TIMESTAMP_HEADER)
    signature = request.header(SIGNATURE_HEADER)
    now = float(timestamp or 0)
    assert verify_signature(SECRET, request.body, timestamp=timestamp, signature=signature, now=now)
    tampered = request.body.replace(b"INC-42", b"INC-43")
    assert not verify_signature(SECRET, tampered, timestamp=timestamp, signature=signature, now=now)
    assert not verify_signature(
        "another-secret", request.body, timestamp=timestamp, signature=signature, now=now
    )
    assert not verify_signature(
        SECRET, request.body, timestamp=timestamp, signature=signature, now=now + 301
    )
    assert not verify_signature(SECRET, request.body, timestamp=None, signature=signature)


def test_a_receiver_rejecting_the_signature_is_permanent() -> None:
    notifier = WebhookNotifier(secret="not-the-receivers-secret", timeout=2.0)
    try:
        with FakeWebhookReceiver(secret=SECRET, reject_invalid=True) as strict:
            with pytest.raises(PermanentFailure, match="HTTP 401") as failure:
                notifier.send(message("webhook", strict.url))
            assert "not-the-receivers-secret" not in str(failure.value)
            strict.expect_none()
    finally:
        notifier.close()


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (500, TemporaryFailure),
        (429, TemporaryFailure),
        (400, PermanentFailure),
        (404, PermanentFailure),
    ],
)
def test_webhook_status_classification(
    receiver: FakeWebhookReceiver,
    webhook_notifier: WebhookNotifier,
    status: int,
    kind: type[Exception],
) -> None:
    receiver.fail_next(status=status, retry_after=5 if status == 429 else None)
    with pytest.raises(kind) as failure:
        webhook_notifier.send(message("webhook", receiver.url))
    if status == 429:
        assert isinstance(failure.value, TemporaryFailure) and failure.value.retry_after == 5
    receiver.expect_none()


def test_webhook_down_is_temporary(
    receiver: FakeWebhookReceiver, webhook_notifier: WebhookNotifier
) -> None:
    with receiver.outage(), pytest.raises(TemporaryFailure):
        webhook_notifier.send(message("webhook", receiver.url))
    webhook_notifier.send(message("webhook", receiver.url))
    receiver.expect_exactly((receiver.url,))


def test_webhook_silence_times_out_as_temporary(silent_port: int) -> None:
    notifier = WebhookNotifier(secret=SECRET, timeout=0.3)
    try:
        with pytest.raises(TemporaryFailure, match="timed out"):
            notifier.send(message("webhook", f"http://127.0.0.1:{silent_port}/hook"))
    finally:
        notifier.close()


# --- Teams --------------------------------------------------------------------------------


@pytest.fixture
def teams() -> Iterator[FakeTeams]:
    with FakeTeams() as server:
        yield server


@pytest.fixture
def teams_notifier() -> Iterator[TeamsNotifier]:
    notifier = TeamsNotifier(timeout=2.0)
    yield notifier
    notifier.close()


def test_teams_card_is_posted(teams: FakeTeams, teams_notifier: TeamsNotifier) -> None:
    result = teams_notifier.send(message("teams", teams.url))
    assert result.provider_id is None
    [post] = teams.messages
    assert post.data["card"]["@type"] == "MessageCard"
    teams.expect_exactly((teams.url, "[SEV1] INCIDENT", "https://warroom.example/ack/abc123"))


def test_teams_error_bodies_and_statuses(teams: FakeTeams, teams_notifier: TeamsNotifier) -> None:
    throttled = (
        "Webhook message delivery failed with error: "
        "Microsoft Teams endpoint returned HTTP error 429"
    )
    teams.fail_next(status=200, body=throttled)
    with pytest.raises(TemporaryFailure, match="429"):
        teams_notifier.send(message("teams", teams.url))
    teams.fail_next(status=200, body="Summary or Text is required.")
    with pytest.raises(PermanentFailure, match="Summary"):
        teams_notifier.send(message("teams", teams.url))
    teams.fail_next(status=400)
    with pytest.raises(PermanentFailure, match="HTTP 400"):
        teams_notifier.send(message("teams", teams.url))
    teams.fail_next(status=503)
    with pytest.raises(TemporaryFailure, match="HTTP 503"):
        teams_notifier.send(message("teams", teams.url))
    teams.fail_next(status=429, retry_after=9)
    with pytest.raises(TemporaryFailure) as failure:
        teams_notifier.send(message("teams", teams.url))
    assert failure.value.retry_after == 9
    with teams.outage(), pytest.raises(TemporaryFailure, match="cannot reach Teams"):
        teams_notifier.send(message("teams", teams.url))
    teams.expect_none()
    assert [r.status for r in teams.requests] == [200, 200, 400, 503, 429]


# --- the registry and settings --------------------------------------------------------------


def test_registry_sends_each_channel_to_its_provider(
    smtp: FakeSmtp, twilio: FakeTwilio, slack: FakeSlack, receiver: FakeWebhookReceiver
) -> None:
    settings = Settings(
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_from="warroom@example.org",
        smtp_starttls=False,
        twilio_base_url=twilio.url,
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_from_number="+15550999",
        slack_base_url=slack.url,
        slack_token=slack.token,
        webhook_secret=SECRET,
    )
    with build_notifiers(settings, timeout=2.0) as notifiers:
        assert set(notifiers) == {"email", "sms", "voice", "slack", "webhook", "teams"}
        assert isinstance(notifiers, Notifier)
        notifiers.send(message("email", "jane.smith@example.com"))
        notifiers.send(message("sms", PHONE))
        notifiers.send(message("voice", PHONE))
        notifiers["slack"].send(message("slack", "@jane.smith"))
        notifiers.send(message("webhook", receiver.url))
    smtp.expect_exactly(("jane.smith@example.com", "INC-42"))
    twilio.expect_exactly((PHONE, "Ack:"), (PHONE, "You are paged"))
    slack.expect_exactly(("U0JANE0001", "INC-42"))
    receiver.expect_exactly((receiver.url, "INC-42"))


def test_a_channel_without_settings_is_absent_and_fails_permanently() -> None:
    with build_notifiers(Settings()) as notifiers:
        assert set(notifiers) == {"teams"}
        with pytest.raises(PermanentFailure, match="channel not configured: sms"):
            notifiers.send(message("sms", PHONE))
    empty = NotifierRegistry({})
    with pytest.raises(PermanentFailure, match="channel not configured: email"):
        empty.send(message("email", "a@example.com"))


def test_partial_channel_settings_name_what_is_missing() -> None:
    with pytest.raises(ValueError, match="WARROOM_SMTP_FROM"):
        build_notifiers(Settings(smtp_host="mail.example.org"))
    with pytest.raises(ValueError, match="WARROOM_TWILIO_AUTH_TOKEN"):
        build_notifiers(Settings(twilio_account_sid="AC1", twilio_from_number="+15550999"))


def test_secrets_never_appear_in_settings_repr() -> None:
    settings = Settings(
        smtp_host="mail.example.org",
        smtp_from="warroom@example.org",
        smtp_password="smtp-secret-111",
        twilio_account_sid="AC1",
        twilio_from_number="+15550999",
        twilio_auth_token="twilio-secret-222",
        slack_token="xoxb-slack-secret-333",
        webhook_secret="webhook-secret-444",
    )
    shown = repr(settings) + str(settings) + json.dumps(settings.model_dump(mode="json"))
    for secret in (
        "smtp-secret-111",
        "twilio-secret-222",
        "xoxb-slack-secret-333",
        "webhook-secret-444",
    ):
        assert secret not in shown
    assert settings.slack_token is not None
    assert settings.slack_token.get_secret_value() == "xoxb-slack-secret-333"
    with build_notifiers(settings) as notifiers:
        assert "secret" not in repr(notifiers) + "".join(repr(n) for n in notifiers.values())


# --- the fakes' own promises ----------------------------------------------------------------


def test_expect_exactly_fails_on_an_unexpected_or_missing_message(
    twilio: FakeTwilio, twilio_notifier: TwilioNotifier
) -> None:
    twilio_notifier.send(message("sms", PHONE))
    twilio_notifier.send(message("sms", "+15550111"))
    with pytest.raises(AssertionError, match=r"unexpected: to='\+15550111'"):
        twilio.expect_exactly((PHONE, "INC-42"), timeout=0.1)
    twilio_notifier.send(message("sms", PHONE))
    with pytest.raises(AssertionError, match="missing"):
        twilio.expect_exactly((PHONE, "INC-42"), (PHONE, "INC-42"), timeout=0.1)
    twilio.expect_none()


def test_wait_for_sees_messages_sent_from_another_thread(
    twilio: FakeTwilio, twilio_notifier: TwilioNotifier
) -> None:
    sender = threading.Thread(target=twilio_notifier.send, args=(message("sms", PHONE),))
    sender.start()
    assert len(twilio.wait_for(1, timeout=5)) == 1
    sender.join(timeout=5)
    with pytest.raises(AssertionError, match="1 of 2"):
        twilio.wait_for(2, timeout=0.05)


def test_a_fake_stops_by_itself_after_its_lifetime() -> None:
    with FakeTeams(lifetime=0.2) as teams:
        assert teams.is_up
        deadline = time.monotonic() + 5
        while teams.is_up and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not teams.is_up
