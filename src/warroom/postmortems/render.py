"""The postmortem as text: seed 002's nine-section template filled from the incident (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from warroom.config.durations import format_duration
from warroom.postmortems.logic import Why

MISSING = "_Not recorded._"
# Timeline types worth a row in the postmortem: the story, not every note.
KEY_EVENT_TYPES = frozenset(
    {
        "alert", "declaration", "acknowledgement", "escalation", "decision", "action",
        "severity_change", "status_change", "resolution", "change",
    }
)  # fmt: skip


@dataclass(frozen=True)
class TimelineRow:
    at: datetime
    type: str
    description: str
    actor: str | None


@dataclass(frozen=True)
class ActionRow:
    id: int
    priority: str
    title: str
    owner: str
    due_at: datetime | None
    status: str


@dataclass(frozen=True)
class Facts:
    """What the incident record says, for the template."""

    key: str
    title: str
    severity: str
    status: str
    services: tuple[str, ...]
    teams: tuple[str, ...]
    commander: str | None
    roles: Mapping[str, str]
    impact: Mapping[str, Any]
    started_at: datetime | None
    detected_at: datetime | None
    declared_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    timeline: Sequence[TimelineRow] = ()
    actions: Sequence[ActionRow] = ()


@dataclass(frozen=True)
class Document:
    """The postmortem's own state, for the template."""

    status: str
    owner: str | None
    deadline_at: datetime | None
    version: int
    sections: Mapping[str, str]
    whys: Sequence[Why] = ()
    root_cause_category: str | None = None
    related: Sequence[str] = ()
    review_at: datetime | None = None
    repeat_of: Sequence[str] = field(default_factory=tuple)


def md_inline(text: str) -> str:
    """User text in a Markdown line or table cell: no structure, no line breaks, no pipes."""
    escaped = text.replace("\\", "\\\\")
    for char in "`*_[]<>|#":
        escaped = escaped.replace(char, "\\" + char)
    return " ".join(escaped.split())


def md_block(text: str) -> str:
    """User paragraphs: kept as paragraphs, but no raw HTML, no headings, no tables."""
    lines = [md_inline(line) for line in text.strip().splitlines()]
    return "\n".join(lines)


def stamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else MISSING


def span(start: datetime | None, end: datetime | None, what: str) -> str:
    if start is None or end is None:
        return f"_Unknown: no {what} recorded._"
    return format_duration(max(end - start, timedelta(0)))


def _origin(facts: Facts) -> datetime | None:
    return facts.started_at or facts.detected_at or facts.declared_at


def impact_lines(impact: Mapping[str, Any]) -> list[str]:
    labels = {
        "affected_users": "Customer impact (users affected)",
        "affected_users_percent": "Customer impact (% of users)",
        "revenue_impact_per_hour": "Revenue impact per hour",
        "revenue_impact": "Revenue impact",
        "data_loss": "Data impact",
        "is_data_loss": "Data impact",
        "sla_breach": "SLA breach",
    }
    lines = []
    for key, value in impact.items():
        label = labels.get(key, key.replace("_", " ").capitalize())
        lines.append(f"- **{md_inline(label)}:** {md_inline(str(value))}")
    return lines


def render_markdown(facts: Facts, doc: Document) -> str:
    s = doc.sections
    origin = _origin(facts)
    out = [
        f"# Postmortem: {facts.key} — {md_inline(facts.title)}",
        "",
        f"**Status:** {doc.status} · **Revision:** {doc.version} · "
        f"**Owner:** {md_inline(doc.owner) if doc.owner else MISSING} · "
        f"**Due:** {stamp(doc.deadline_at) if doc.deadline_at else 'not required'}",
        "",
        "## 1. Incident Summary",
        "",
        f"- **Incident ID:** {facts.key}",
        f"- **Severity:** {md_inline(facts.severity)}",
        f"- **Duration:** {span(origin, facts.resolved_at, 'resolution time')}",
        f"- **Incident Commander:** {md_inline(facts.commander) if facts.commander else MISSING}",
        f"- **Teams Involved:** {md_inline(', '.join(facts.teams)) if facts.teams else MISSING}",
        f"- **Services:** {md_inline(', '.join(facts.services)) if facts.services else MISSING}",
        "",
        md_block(s.get("summary", "")) or MISSING,
        "",
        "## 2. Impact Assessment",
        "",
        *(impact_lines(facts.impact) or ["- _No impact figures recorded._"]),
        "",
        md_block(s.get("impact", "")) or "",
        "",
        "### Detection and response",
        "",
        f"- **Started:** {stamp(facts.started_at)}",
        f"- **Detected:** {stamp(facts.detected_at)}",
        "- **Time to detect (MTTD):** "
        + span(facts.started_at, facts.detected_at, "start or detection time"),
        "- **Time to acknowledge:** "
        + span(facts.declared_at, facts.acknowledged_at, "acknowledgement"),
        f"- **Time to mitigate:** {span(origin, facts.mitigated_at, 'mitigation')}",
        f"- **Time to resolve:** {span(origin, facts.resolved_at, 'resolution')}",
        "",
        "## 3. Timeline",
        "",
        "| Time | Event | Action Taken | Owner |",
        "|------|-------|--------------|-------|",
    ]
    rows = [r for r in facts.timeline if r.type in KEY_EVENT_TYPES]
    for row in rows:
        out.append(
            f"| {row.at.strftime('%Y-%m-%d %H:%M')} | {md_inline(row.type.replace('_', ' '))} "
            f"| {md_inline(row.description)} | {md_inline(row.actor or 'system')} |"
        )
    if not rows:
        out.append("| — | _No key events recorded._ | | |")
    out += [
        "",
        "## 4. Root Cause Analysis",
        "",
        "**Root-cause category:** "
        + (md_inline(doc.root_cause_category) if doc.root_cause_category else MISSING),
        "",
        "**What happened:**",
        "",
        md_block(s.get("root_cause", "")) or MISSING,
        "",
        "**Contributing factors:**",
        "",
        md_block(s.get("contributing_factors", "")) or MISSING,
        "",
        "**Five whys:**",
        "",
    ]
    if doc.whys:
        for i, link in enumerate(doc.whys, start=1):
            out.append(f"{i}. Why {md_inline(link.why)} — because {md_inline(link.because)}")
    else:
        out.append(MISSING)
    if doc.related or doc.repeat_of:
        out += ["", f"**Related incidents:** {', '.join(md_inline(r) for r in doc.related)}"]
        if doc.repeat_of:
            out.append(f"**Repeat of:** {', '.join(md_inline(r) for r in doc.repeat_of)}")
    out += [
        "",
        "**Resolution:**",
        "",
        md_block(s.get("resolution", "")) or MISSING,
        "",
        "## 5. What Went Well",
        "",
        md_block(s.get("went_well", "")) or MISSING,
        "",
        "## 6. What Went Poorly",
        "",
        md_block(s.get("went_poorly", "")) or MISSING,
        "",
        "## 7. Action Items",
        "",
        "| Priority | Action | Owner | Due Date | Status |",
        "|----------|--------|-------|----------|--------|",
    ]
    for item in facts.actions:
        due = item.due_at.strftime("%Y-%m-%d") if item.due_at else "—"
        out.append(
            f"| {item.priority} | {md_inline(item.title)} | {md_inline(item.owner)} "
            f"| {due} | {item.status.replace('_', ' ')} |"
        )
    if not facts.actions:
        out.append("| — | _No action items yet._ | | | |")
    out += [
        "",
        "## 8. Prevention & Detection Improvements",
        "",
        md_block(s.get("prevention", "")) or MISSING,
        "",
        "## 9. Lessons Learned",
        "",
        md_block(s.get("lessons_learned", "")) or MISSING,
        "",
    ]
    if doc.review_at:
        out += [f"_Review meeting: {stamp(doc.review_at)}._", ""]
    return "\n".join(out)
