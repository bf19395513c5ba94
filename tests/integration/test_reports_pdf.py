"""Periodic reports as PDF: the text read back with pypdfium2, the charts seen as pixels."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tests.conftest import Tokens
from warroom.clock import FakeClock


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def pdf_text(content: bytes) -> tuple[str, object]:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(content)
    text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    image = document[0].render(scale=1).to_pil().convert("RGB")
    document.close()
    return text, image


def test_a_weekly_pdf_report_holds_the_figures_and_drawn_charts(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    clock.set(datetime(2024, 4, 10, 12, 0, tzinfo=UTC))
    rows = [
        # SEV1 on payments: acknowledged after 10 min (met), resolved after 2 h (met).
        {"external_id": "p1", "title": "Checkout <b>down</b>", "severity": "SEV1",
         "services": ["payment-service"], "declared_at": "2024-04-01T10:00:00Z",
         "acknowledged_at": "2024-04-01T10:10:00Z", "mitigated_at": "2024-04-01T11:00:00Z",
         "resolved_at": "2024-04-01T12:00:00Z"},
        # SEV1 on payments: acknowledged after 30 min (breached), resolved after 3 h.
        {"external_id": "p2", "title": "Refunds slow", "severity": "SEV1",
         "services": ["payment-service"], "declared_at": "2024-04-03T08:00:00Z",
         "acknowledged_at": "2024-04-03T08:30:00Z", "mitigated_at": "2024-04-03T09:00:00Z",
         "resolved_at": "2024-04-03T11:00:00Z"},
        {"external_id": "p3", "title": "Login errors", "severity": "SEV2",
         "services": ["auth-service"], "declared_at": "2024-04-05T08:00:00Z",
         "acknowledged_at": "2024-04-05T08:20:00Z", "resolved_at": "2024-04-05T09:00:00Z"},
        # The week after: not in the report.
        {"external_id": "p4", "title": "Later", "severity": "SEV3",
         "declared_at": "2024-04-09T08:00:00Z"},
    ]  # fmt: skip
    r = client.post("/api/v1/import/incidents", json=rows, headers=auth(api_tokens.admin))
    assert r.status_code == 200, r.text
    r = client.get(
        "/api/v1/reports/weekly",
        params={"format": "pdf", "on": "2024-04-03"},
        headers=auth(api_tokens.viewer),
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert "incident-report-weekly-2024-04-01.pdf" in r.headers["content-disposition"]
    assert r.content.startswith(b"%PDF-")
    text, image = pdf_text(r.content)
    assert "Incident report, weekly: 2024-04-01 to 2024-04-07 (UTC)" in text
    assert "Incidents: 3 (SEV1: 2, SEV2: 1)" in text
    # MTTA: 10, 30, 20 min: mean 20.0 min; MTTR 2 h, 3 h, 1 h: mean 2.0 h.
    assert "MTTA" in text and "20.0 min" in text and "2.0 h" in text
    # Acknowledge: met 10 and 20 min (SEV2 target 1 h), breached the 30 min SEV1.
    assert "SLA compliance" in text and "66.7 %" in text
    assert "Top services" in text and "payment-service" in text
    assert "Incidents over time" in text and "Severity mix" in text
    # The charts are drawn: the bars' red is on the page.
    colours = image.getcolors(maxcolors=1 << 20)  # type: ignore[attr-defined]
    assert colours is not None
    assert any(rgb == (192, 57, 43) and n > 50 for n, rgb in colours)


def test_pdf_refuses_nothing_for_an_empty_period_and_needs_a_token(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    clock.set(datetime(2024, 4, 10, 12, 0, tzinfo=UTC))
    r = client.get(
        "/api/v1/reports/daily", params={"format": "pdf"}, headers=auth(api_tokens.viewer)
    )
    assert r.status_code == 200
    text, _ = pdf_text(r.content)
    assert "Incidents: 0" in text and "Open incidents" in text
    assert client.get("/api/v1/reports/daily", params={"format": "pdf"}).status_code == 401
    r = client.get(
        "/api/v1/reports/daily", params={"format": "docx"}, headers=auth(api_tokens.viewer)
    )
    assert r.status_code == 422 and "format" in r.text
