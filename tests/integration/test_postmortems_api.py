"""Postmortems through the API, on SQLite and PostgreSQL: drafted on resolve, edited with
every change versioned, reviewed, published; exported as Markdown and HTML."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Tokens
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.engine.models import Notification


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def declare(client: TestClient, token: str, **body: object) -> str:
    payload = {"title": "Payment processing failing", "severity": "SEV1",
               "services": ["payment-service"], "commander": "jane.smith"}  # fmt: skip
    payload.update(body)
    response = client.post("/api/v1/incidents", json=payload, headers=auth(token))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def resolve(
    client: TestClient, token: str, key: str, message: str = "Rolled back to v2.3.0"
) -> None:
    r = client.post(
        f"/api/v1/incidents/{key}/status",
        json={"status": "resolved", "message": message},
        headers=auth(token),
    )
    assert r.status_code == 200, r.text


def test_a_sev1_gets_a_drafted_postmortem_on_resolve_due_in_48_hours(
    client: TestClient, api_tokens: Tokens, clock: FakeClock, ctx: AppContext
) -> None:
    t = api_tokens.jane
    key = declare(client, t, description="Checkout returns 502", impact={"affected_users": 1200})
    assert client.get(f"/api/v1/incidents/{key}/postmortem", headers=auth(t)).status_code == 404
    clock.advance(minutes=4)
    client.post(f"/api/v1/incidents/{key}/ack", headers=auth(t))
    clock.advance(minutes=40)
    resolve(client, t, key)

    r = client.get(f"/api/v1/incidents/{key}/postmortem", headers=auth(t))
    assert r.status_code == 200, r.text
    pm = r.json()
    assert pm["status"] == "draft"
    assert pm["owner"] == "jane.smith"
    assert pm["deadline_at"] == "2024-03-17T10:14:00Z"  # resolved 10:14 + 48 h
    assert pm["sections"]["summary"].startswith("Payment processing failing")
    assert "Rolled back to v2.3.0" in pm["sections"]["resolution"]
    assert pm["missing_sections"] == ["root_cause", "lessons_learned"]
    # Resolved on a Friday: three business days later is Wednesday, 10:00 in the policy's zone.
    assert pm["review_at"] == "2024-03-20T10:00:00Z"

    md = client.get(f"/api/v1/incidents/{key}/postmortem?format=markdown", headers=auth(t))
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    text = md.text
    assert f"# Postmortem: {key} — Payment processing failing" in text
    assert "**Incident Commander:** jane.smith" in text
    assert "**Teams Involved:** payments, sre" in text
    assert "Customer impact (users affected):** 1200" in text
    assert "**Time to acknowledge:** 4 minutes" in text
    assert "**Time to resolve:** 44 minutes" in text
    # No start or detection time was recorded: it says so instead of inventing one.
    assert "**Time to detect (MTTD):** _Unknown: no start or detection time recorded._" in text
    assert "| acknowledgement |" in text and "| resolution |" in text


def test_a_sev3_needs_no_postmortem_but_one_can_be_started(
    client: TestClient, api_tokens: Tokens
) -> None:
    t = api_tokens.jane
    key = declare(client, t, severity="SEV3")
    resolve(client, t, key)
    assert client.get(f"/api/v1/incidents/{key}/postmortem", headers=auth(t)).status_code == 404
    r = client.post(f"/api/v1/incidents/{key}/postmortem", headers=auth(t))
    assert r.status_code == 201, r.text
    assert r.json()["deadline_at"] is None and r.json()["overdue"] is False
    again = client.post(f"/api/v1/incidents/{key}/postmortem", headers=auth(t))
    assert again.status_code == 200 and again.json()["version"] == 1


def test_edit_review_publish_and_a_new_revision(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    t = api_tokens.jane
    key = declare(client, t)
    resolve(client, t, key)
    url = f"/api/v1/incidents/{key}/postmortem"

    clock.advance(hours=1)
    r = client.put(
        url,
        json={
            "version": 1,
            "sections": {"root_cause": "A connection leak in v2.3.1 exhausted the pool."},
            "five_whys": [
                {"why": "did checkout fail?", "because": "the pool was exhausted"},
                {"why": "was the pool exhausted?", "because": "connections leaked"},
            ],
            "root_cause_category": "connection-leak",
        },
        headers=auth(t),
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["missing_sections"] == ["lessons_learned"]

    # A stale version is refused, and nothing stored is lost.
    stale = client.put(url, json={"version": 1, "sections": {"summary": "x"}}, headers=auth(t))
    assert stale.status_code == 409 and stale.json()["error"]["details"]["field"] == "version"
    assert client.get(url, headers=auth(t)).json()["sections"]["summary"].startswith("Payment")

    move = client.post(f"{url}/status", json={"status": "in_review"}, headers=auth(t))
    assert move.status_code == 200 and move.json()["status"] == "in_review"
    early = client.post(f"{url}/publish", headers=auth(t))
    assert early.status_code == 422
    assert early.json()["error"]["details"]["field"] == "sections.lessons_learned"

    client.put(url, json={"sections": {"lessons_learned": "Pool metrics need alerts."}},
               headers=auth(t))  # fmt: skip
    published = client.post(f"{url}/publish", headers=auth(t))
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"
    assert published.json()["published_at"] == "2024-03-15T10:30:00Z"

    frozen = client.put(url, json={"sections": {"summary": "rewritten"}}, headers=auth(t))
    assert frozen.status_code == 409
    reopened = client.post(f"{url}/status", json={"status": "draft"}, headers=auth(t))
    assert reopened.status_code == 200 and reopened.json()["status"] == "draft"
    assert client.put(url, json={"sections": {"summary": "rewritten"}}, headers=auth(t)).is_success

    revisions = client.get(f"{url}/revisions", headers=auth(t)).json()
    assert [r["version"] for r in revisions] == [1, 2, 3, 4, 5, 6, 7]
    assert revisions[1]["actor"] == "jane.smith"
    assert revisions[1]["changes"]["sections.root_cause"] == {
        "from": None,
        "to": "A connection leak in v2.3.1 exhausted the pool.",
    }
    assert revisions[5]["summary"] == "new revision started from the published postmortem"
    assert revisions[6]["changes"]["sections.summary"]["to"] == "rewritten"


def test_markdown_and_html_cannot_be_broken_by_user_text(
    client: TestClient, api_tokens: Tokens
) -> None:
    t = api_tokens.jane
    key = declare(client, t, title="Pipes | in <b>title</b>")
    resolve(client, t, key, message="cell | breaker\nnew row")
    url = f"/api/v1/incidents/{key}/postmortem"
    client.put(url, json={"sections": {"went_well": "<script>alert(1)</script>"}}, headers=auth(t))
    client.post("/api/v1/action-items", headers=auth(t), json={
        "incident": key, "title": "Fix | the <i>pool</i>", "priority": "P1",
        "type": "corrective", "owner": "bob.wilson"})  # fmt: skip
    md = client.get(f"{url}?format=markdown", headers=auth(t)).text
    rows = [line for line in md.splitlines() if line.startswith("| P1 ")]
    assert rows == ["| P1 | Fix \\| the \\<i\\>pool\\</i\\> | bob.wilson | 2024-03-29 | open |"]
    for line in md.splitlines():
        if line.startswith("| ") and "resolution" in line:
            assert len(re.split(r"(?<!\\)\|", line)) == 6  # still four cells
            assert "cell \\| breaker new row" in line
    html = client.get(f"{url}?format=html", headers=auth(t))
    assert html.headers["content-type"].startswith("text/html")
    assert "<script>alert(1)</script>" not in html.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html.text
    assert "Pipes | in &lt;b&gt;title&lt;/b&gt;" in html.text


def test_restricted_postmortems_and_action_items_are_invisible_to_outsiders(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = declare(client, api_tokens.jane, restricted=True)
    resolve(client, api_tokens.jane, key)
    client.post("/api/v1/action-items", headers=auth(api_tokens.jane), json={
        "incident": key, "title": "Rotate keys", "priority": "P0",
        "type": "corrective", "owner": "jane.smith"})  # fmt: skip
    bob = auth(api_tokens.bob)
    assert client.get(f"/api/v1/incidents/{key}/postmortem", headers=bob).status_code == 404
    assert client.get("/api/v1/action-items", headers=bob).json()["total"] == 0
    assert client.get("/api/v1/postmortems", headers=bob).json()["total"] == 0
    assert client.get("/api/v1/action-items/1", headers=bob).status_code == 404
    assert client.get("/api/v1/action-items", headers=auth(api_tokens.jane)).json()["total"] == 1
    viewer = client.put(
        f"/api/v1/incidents/{key}/postmortem", json={}, headers=auth(api_tokens.viewer)
    )
    assert viewer.status_code == 403


def test_action_items_lifecycle_filters_and_overdue(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    t = api_tokens.jane
    key = declare(client, t)
    resolve(client, t, key)
    r = client.post("/api/v1/action-items", headers=auth(t), json={
        "incident": key, "title": "Alert on pool saturation", "priority": "P0",
        "type": "detective", "owner": "bob.wilson"})  # fmt: skip
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["due"] == "2024-03-22T09:30:00Z"  # P0: within a week by default
    assert item["status"] == "open" and item["postmortem"] is True
    other = client.post("/api/v1/action-items", headers=auth(t), json={
        "incident": key, "title": "Load test the pool", "priority": "P2",
        "type": "preventive", "owner": "jane.smith",
        "due": "2024-05-01T00:00:00+02:00"}).json()  # fmt: skip
    assert other["due"] == "2024-04-30T22:00:00Z"

    bad = client.post(
        "/api/v1/action-items",
        headers=auth(t),
        json={
            "incident": key,
            "title": "x",
            "priority": "P9",
            "type": "detective",
            "owner": "bob.wilson",
        },
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "priority"
    nobody = client.post(
        "/api/v1/action-items",
        headers=auth(t),
        json={
            "incident": key,
            "title": "x",
            "priority": "P1",
            "type": "detective",
            "owner": "nobody",
        },
    )
    assert nobody.status_code == 422 and nobody.json()["error"]["details"]["field"] == "owner"

    items = client.get("/api/v1/action-items", params={"owner": "bob.wilson"}, headers=auth(t))
    assert [i["id"] for i in items.json()["items"]] == [item["id"]]
    assert client.get("/api/v1/action-items", params={"overdue": "true"},
                      headers=auth(t)).json()["total"] == 0  # fmt: skip

    clock.advance(days=8)
    overdue = client.get("/api/v1/action-items", params={"overdue": "true"}, headers=auth(t))
    assert [i["id"] for i in overdue.json()["items"]] == [item["id"]]
    assert overdue.json()["items"][0]["overdue"] is True

    url = f"/api/v1/action-items/{item['id']}"
    no_reason = client.patch(url, json={"status": "wont_do"}, headers=auth(t))
    assert no_reason.status_code == 409
    assert no_reason.json()["error"]["details"]["field"] == "reason"
    progress = client.patch(url, json={"status": "in_progress"}, headers=auth(t))
    assert progress.json()["status"] == "in_progress"
    done = client.patch(url, json={"status": "done"}, headers=auth(t)).json()
    assert done["status"] == "done" and done["completed_at"] is not None
    assert done["overdue"] is False
    assert client.get("/api/v1/action-items", params={"overdue": "true"},
                      headers=auth(t)).json()["total"] == 0  # fmt: skip
    listed = client.get("/api/v1/action-items", params={"status": ["open"]}, headers=auth(t))
    assert [i["id"] for i in listed.json()["items"]] == [other["id"]]
    assert client.patch("/api/v1/action-items/99999", json={"status": "done"},
                        headers=auth(t)).status_code == 404  # fmt: skip


def test_the_review_invitation_is_queued_as_email_to_participants(
    client: TestClient, api_tokens: Tokens, ctx: AppContext, clock: FakeClock
) -> None:
    t = api_tokens.jane
    key = declare(client, t)
    r = client.put(f"/api/v1/incidents/{key}/roles/technical_lead", json={"user": "bob.wilson"},
                   headers=auth(t))  # fmt: skip
    assert r.status_code == 200, r.text
    resolve(client, t, key)
    with ctx.db.unit_of_work() as uow:
        rows = [(n.address, n.payload["calendar"]) for n in uow.session.scalars(
            select(Notification).where(Notification.reason == "postmortem_review"))]  # fmt: skip
    assert sorted(a for a, _ in rows) == ["bob.wilson@example.com", "jane.smith@example.com"]
    assert all("METHOD:REQUEST" in ics for _, ics in rows)

    clock.advance(hours=2)
    later = clock.now() + timedelta(days=2)
    moved = client.post(f"/api/v1/incidents/{key}/postmortem/review",
                        json={"at": later.isoformat()}, headers=auth(t))  # fmt: skip
    assert moved.status_code == 200, moved.text
    past = client.post(f"/api/v1/incidents/{key}/postmortem/review",
                       json={"at": "2020-01-01T00:00:00Z"}, headers=auth(t))  # fmt: skip
    assert past.status_code == 422 and past.json()["error"]["details"]["field"] == "at"
    with ctx.db.unit_of_work() as uow:
        count = len(list(uow.session.scalars(
            select(Notification).where(Notification.reason == "postmortem_review"))))  # fmt: skip
    assert count == 4  # two people, invited twice (the second with SEQUENCE:1)


def test_the_same_root_cause_within_30_days_is_a_repeat(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    t = api_tokens.jane
    first = declare(client, t, title="Pool exhausted")
    resolve(client, t, first)
    client.put(f"/api/v1/incidents/{first}/postmortem",
               json={"root_cause_category": "Connection-Leak"}, headers=auth(t))  # fmt: skip
    clock.advance(days=20)
    second = declare(client, t, title="Pool exhausted again")
    resolve(client, t, second)
    url = f"/api/v1/incidents/{second}/postmortem"
    r = client.put(url, json={"root_cause_category": "connection-leak",
                              "related_incidents": [first]}, headers=auth(t))  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["repeat_of"] == [first] and r.json()["related_incidents"] == [first]
    assert f"**Repeat of:** {first}" in client.get(f"{url}?format=markdown", headers=auth(t)).text
    bad = client.put(url, json={"related_incidents": ["INC-999"]}, headers=auth(t))
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["field"] == "related_incidents.0"

    clock.advance(days=15)
    third = declare(client, t, title="Pool exhausted a third time")
    resolve(client, t, third)
    r = client.put(f"/api/v1/incidents/{third}/postmortem",
                   json={"root_cause_category": "connection-leak"}, headers=auth(t))  # fmt: skip
    assert r.json()["repeat_of"] == [second]  # the first is 35 days back
    other = client.put(url, json={"root_cause_category": "dns"}, headers=auth(t))
    assert other.json()["repeat_of"] == []


def test_the_pdf_export_is_a_real_pdf_with_user_text_as_text(
    client: TestClient, api_tokens: Tokens, tmp_path: Path
) -> None:
    import pypdfium2 as pdfium

    t = api_tokens.jane
    key = declare(client, t, title="Checkout <b>down</b> | 502", impact={"affected_users": 1200})
    resolve(client, t, key)
    url = f"/api/v1/incidents/{key}/postmortem"
    client.put(url, headers=auth(t), json={
        "sections": {"root_cause": "Pool leak <script>alert(1)</script> — Straße"},
        "five_whys": [{"why": "did it fail?", "because": "the pool leaked"}]})  # fmt: skip
    client.post("/api/v1/action-items", headers=auth(t), json={
        "incident": key, "title": "Alert on saturation", "priority": "P1",
        "type": "detective", "owner": "bob.wilson"})  # fmt: skip
    r = client.get(f"{url}?format=pdf", headers=auth(t))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    document = pdfium.PdfDocument(r.content)
    text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    # Without DejaVu Sans (fonts-dejavu-core) the built-in font spells the dash in ASCII.
    dash = "—" if Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").exists() else "-"
    assert f"Postmortem: {key} {dash} Checkout <b>down</b> | 502" in text
    assert "Pool leak <script>alert(1)</script>" in text
    assert "Alert on saturation" in text
    assert f"Why did it fail? {dash} because the pool leaked" in text
    assert "Unknown: no start or detection time recorded." in text and "Straße" in text
    image = document[0].render(scale=1).to_pil()
    image.save(tmp_path / "page1.png")
    document.close()
    assert image.size[0] > 500 and image.getextrema() != ((255, 255), (255, 255), (255, 255))


def test_unstorable_text_and_times_are_4xx_naming_the_field(
    client: TestClient, api_tokens: Tokens
) -> None:
    t = api_tokens.jane
    key = declare(client, t)
    resolve(client, t, key)
    url = f"/api/v1/incidents/{key}/postmortem"
    for body, field in (
        ({"sections": {"summary": "a\x00b"}}, "sections.summary"),
        ({"root_cause_category": "x\x00"}, "root_cause_category"),
        ({"five_whys": [{"why": "a\x00", "because": "b"}]}, "five_whys.0.why"),
        ({"sections": {"nonsense": "x"}}, "sections.nonsense"),
        ({"version": 0}, "version"),
    ):
        r = client.put(url, json=body, headers=auth(t))
        # Text no database can store is refused before parsing (400, docs/robustness.md);
        # the rest fails validation (422). Either way the field is named.
        unstorable = "\\x00" in repr(body)
        assert r.status_code == (400 if unstorable else 422), (body, r.text)
        assert r.json()["error"]["details"][0]["field"] == field
    assert client.get(url, headers=auth(t)).json()["version"] == 1  # nothing changed
    item = {"incident": key, "title": "t", "priority": "P1", "type": "detective",
            "owner": "bob.wilson"}  # fmt: skip
    for extra, field in (
        ({"title": "a\x00"}, "title"),
        ({"due": "9999-12-31T23:59:59-05:00"}, "due"),
        ({"due": "1969-12-31T00:00:00Z"}, "due"),
        ({"due": "2024-04-01T00:00:00"}, "due"),  # no offset
    ):
        r = client.post("/api/v1/action-items", json={**item, **extra}, headers=auth(t))
        assert r.status_code == (400 if "\\x00" in repr(extra) else 422), (extra, r.text)
        assert r.json()["error"]["details"][0]["field"] == field
    huge = client.patch("/api/v1/action-items/99999999999", json={"status": "done"},
                        headers=auth(t))  # fmt: skip
    assert huge.status_code == 422
    missing = client.post("/api/v1/action-items", json={**item, "incident": "INC-404"},
                          headers=auth(t))  # fmt: skip
    assert missing.status_code == 404 and missing.json()["error"]["details"]["field"] == "incident"
    assert client.get("/api/v1/action-items", headers=auth(t)).json()["total"] == 0
    far = client.get("/api/v1/action-items", params={"incident": "INC-999999999999"},
                     headers=auth(t))  # fmt: skip
    assert far.status_code == 200 and far.json()["total"] == 0
    r = client.put(url, json={"related_incidents": ["INC-999999999999"]}, headers=auth(t))
    assert r.status_code == 422
    assert r.json()["error"]["details"]["field"] == "related_incidents.0"
    nul = client.get("/api/v1/action-items", params={"owner": "a\x00"}, headers=auth(t))
    assert nul.status_code == 422 and nul.json()["error"]["details"][0]["field"] == "owner"
