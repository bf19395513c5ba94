"""Scheduled reports: queued once when due on the injected clock (across passes, engines
and DST changes), delivered over real SMTP (aiosmtpd) with an HTML body and the PDF."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Tokens
from warroom.adapters.email import SmtpNotifier
from warroom.clock import FakeClock
from warroom.config.reports import ReportsConfig, ScheduledReport
from warroom.context import AppContext
from warroom.engine.models import Notification
from warroom.notifications.delivery import Deliverer
from warroom.reports.schedule import last_due, run_pass
from warroom.testing.smtp import FakeSmtp

BERLIN = ZoneInfo("Europe/Berlin")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def scheduled(ctx: AppContext, **entry: object) -> AppContext:
    reports = ReportsConfig(schedule=[ScheduledReport.model_validate(entry)])
    return replace(ctx, config=ctx.config.model_copy(update={"reports": reports}))


def tick(ctx: AppContext, at: datetime) -> int:
    with ctx.db.unit_of_work() as uow:
        queued = run_pass(ctx, uow.session, at)
        uow.commit()
    return queued


def queued_reports(ctx: AppContext) -> list[tuple[str, str]]:
    with ctx.db.unit_of_work() as uow:
        rows = uow.session.execute(
            select(Notification.address, Notification.idempotency_key)
            .where(Notification.reason == "report")
            .order_by(Notification.id)
        ).all()
    return [(a, k) for a, k in rows]


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    with FakeSmtp() as server:
        yield server


def test_a_weekly_report_is_mailed_once_at_its_local_time_with_html_and_pdf(
    client: TestClient, api_tokens: Tokens, ctx: AppContext, smtp: FakeSmtp, clock: FakeClock
) -> None:
    import pypdfium2 as pdfium

    clock.set(datetime(2024, 4, 1, 6, 0, tzinfo=UTC))
    rows = [
        {"external_id": "w1", "title": "Checkout down", "severity": "SEV1",
         "services": ["payment-service"], "declared_at": "2024-03-26T10:00:00Z",
         "acknowledged_at": "2024-03-26T10:05:00Z", "resolved_at": "2024-03-26T11:00:00Z"},
        {"external_id": "w2", "title": "Login slow", "severity": "SEV2",
         "declared_at": "2024-03-31T20:00:00Z"},  # 22:00 CEST on Sunday: in the week
        {"external_id": "w3", "title": "Secret breach", "severity": "SEV1",
         "declared_at": "2024-03-27T10:00:00Z", "restricted": True},
        {"external_id": "w4", "title": "Next week", "severity": "SEV3",
         "declared_at": "2024-03-31T22:30:00Z"},  # 00:30 CEST on Monday: the week after
    ]  # fmt: skip
    r = client.post("/api/v1/import/incidents", json=rows, headers=auth(api_tokens.admin))
    assert r.status_code == 200, r.text
    variant = scheduled(ctx, period="weekly", at="Mon 09:00", timezone="Europe/Berlin",
                        to=["ops@example.org", "cto@example.org"])  # fmt: skip
    # 08:59 in Berlin (CEST since Sunday): not yet.
    assert tick(variant, datetime(2024, 4, 1, 6, 59, tzinfo=UTC)) == 0
    # 09:00: one message per address; again, and from a second engine: nothing more.
    assert tick(variant, datetime(2024, 4, 1, 7, 0, tzinfo=UTC)) == 2
    assert tick(variant, datetime(2024, 4, 1, 7, 1, tzinfo=UTC)) == 0
    second_engine = replace(variant)
    assert tick(second_engine, datetime(2024, 4, 1, 12, 0, tzinfo=UTC)) == 0
    assert [a for a, _ in queued_reports(ctx)] == ["ops@example.org", "cto@example.org"]

    notifier = SmtpNotifier(host=smtp.host, port=smtp.port, sender="warroom@example.org",
                            starttls=False, timeout=5.0)  # fmt: skip
    deliverer = Deliverer({"email": notifier}, parallel=2)
    clock.set(datetime(2024, 4, 1, 12, 0, tzinfo=UTC))
    try:
        deliverer(ctx)
    finally:
        deliverer.close()
    mails = [m for m in smtp.emails if m["Subject"].startswith("Incident report")]
    assert sorted(m["To"] for m in mails) == ["cto@example.org", "ops@example.org"]
    mail = mails[0]
    assert mail["Subject"] == "Incident report, weekly: 2024-03-25 to 2024-03-31 (Europe/Berlin)"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and "Incidents: **2**" in text.get_content()
    assert html is not None and "<svg" in html.get_content()
    assert "Secret breach" not in html.get_content()  # restricted: left out
    (pdf,) = [p for p in mail.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert pdf.get_filename() == "incident-report-weekly-2024-03-25.pdf"
    document = pdfium.PdfDocument(pdf.get_payload(decode=True))
    page_text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    document.close()
    assert "Incidents: 2 (SEV1: 1, SEV2: 1)" in page_text

    # The next Monday brings the next week's report, once.
    assert tick(variant, datetime(2024, 4, 8, 7, 0, tzinfo=UTC)) == 2
    assert len(queued_reports(ctx)) == 4
    # Keyed by the period's start (Monday 00:00 CEST), not by the moment it was sent.
    assert queued_reports(ctx)[-1][1] == (
        "report:weekly:Europe/Berlin:2024-03-31T22:00:00+00:00:cto@example.org"
    )


def test_dst_skipped_and_repeated_local_times_send_the_daily_report_once(
    ctx: AppContext,
) -> None:
    entry = ScheduledReport(period="daily", at="02:30", timezone="Europe/Berlin", to=["a@b.c"])
    # 31 March 2024: 02:00-03:00 does not exist; 02:30 is taken as 03:30 CEST (01:30 UTC).
    due = last_due(entry, BERLIN, datetime(2024, 3, 31, 12, 0, tzinfo=UTC), 1)
    assert due == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)
    # 27 October 2024: 02:30 happens twice; the first (CEST, 00:30 UTC) is the due one.
    due = last_due(entry, BERLIN, datetime(2024, 10, 27, 12, 0, tzinfo=UTC), 1)
    assert due == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    variant = scheduled(ctx, period="daily", at="02:30", timezone="Europe/Berlin", to=["a@b.c"])
    assert tick(variant, datetime(2024, 10, 26, 0, 30, tzinfo=UTC)) == 1  # the 25th's
    assert tick(variant, datetime(2024, 10, 27, 0, 29, tzinfo=UTC)) == 0
    assert tick(variant, datetime(2024, 10, 27, 0, 30, tzinfo=UTC)) == 1
    # 02:30 again by the wall clock (CET now): the same day's report, not sent again.
    assert tick(variant, datetime(2024, 10, 27, 1, 30, tzinfo=UTC)) == 0
    assert tick(variant, datetime(2024, 10, 28, 1, 29, tzinfo=UTC)) == 0
    assert tick(variant, datetime(2024, 10, 28, 1, 30, tzinfo=UTC)) == 1  # 02:30 CET


def test_a_report_due_long_ago_is_skipped_and_bad_schedules_are_refused(
    ctx: AppContext,
) -> None:
    variant = scheduled(ctx, period="monthly", at="07:00", to=["a@b.c"])
    # Due 1 May 07:00 UTC; the engine comes back three days later: not sent late.
    assert tick(variant, datetime(2024, 5, 4, 9, 0, tzinfo=UTC)) == 0
    assert tick(variant, datetime(2024, 5, 1, 7, 0, tzinfo=UTC) + timedelta(hours=23)) == 1
    from pydantic import ValidationError

    for bad, field in (({"at": "25:00"}, "at"), ({"at": "Foo 09:00"}, "at"),
                       ({"timezone": "Mars/Base"}, "timezone"), ({"to": []}, "to"),
                       ({"period": "hourly"}, "period")):  # fmt: skip
        with pytest.raises(ValidationError) as caught:
            ScheduledReport.model_validate({"period": "daily", "to": ["a@b.c"], **bad})
        assert field in str(caught.value)
