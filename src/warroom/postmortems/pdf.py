"""The postmortem as PDF (fpdf2): the same sections as the Markdown, text set as text.

User text is written with fpdf2's plain-text calls (no Markdown, no HTML), so nothing a
user types can become structure. DejaVu Sans is used when the system has it (Debian's
fonts-dejavu-core), for any script; otherwise the built-in Helvetica, which holds Latin-1
only, and other characters are shown as `?`.

fpdf2 (with Pillow and fontTools behind it) costs a server ~30 MB of memory, so it is imported
on the first PDF, not when the server starts (`tests/unit/test_lazy_imports.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from warroom.config.durations import format_duration
from warroom.postmortems.render import KEY_EVENT_TYPES, Document, Facts

_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_MISSING = "Not recorded."
# Typography Latin-1 lacks, for the built-in font.
_ASCII = str.maketrans(
    {"\u2014": "-", "\u2013": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"',
     "\u201d": '"', "\u2026": "..."}
)  # fmt: skip


class _Writer:
    def __init__(self) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.set_title("Postmortem")
        self.pdf.set_creator("warroom")
        regular, bold = _FONT_DIR / "DejaVuSans.ttf", _FONT_DIR / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            self.pdf.add_font("body", "", str(regular))
            self.pdf.add_font("body", "B", str(bold))
            self.family, self.unicode = "body", True
        else:
            self.family, self.unicode = "helvetica", False
        self.pdf.add_page()

    def text(self, value: str) -> str:
        if self.unicode:
            return value
        return value.translate(_ASCII).encode("latin-1", "replace").decode("latin-1")

    def heading(self, value: str, size: int = 13) -> None:
        self.pdf.ln(2)
        self.pdf.set_font(self.family, "B", size)
        self.pdf.multi_cell(0, 7, self.text(value), new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_font(self.family, "", 10)

    def paragraph(self, value: str) -> None:
        self.pdf.set_font(self.family, "", 10)
        self.pdf.multi_cell(0, 5, self.text(value.strip() or _MISSING), new_x="LMARGIN",
                            new_y="NEXT")  # fmt: skip
        self.pdf.ln(1)

    def table(self, rows: Sequence[Sequence[str]], widths: Sequence[int]) -> None:
        from fpdf.fonts import FontFace

        self.pdf.set_font(self.family, "", 9)
        with self.pdf.table(col_widths=tuple(widths), text_align="LEFT", line_height=5,
                            headings_style=FontFace(emphasis="BOLD")) as table:  # fmt: skip
            for row in rows:
                cells = table.row()
                for value in row:
                    cells.cell(self.text(value))
        self.pdf.ln(2)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else _MISSING


def _span(start: datetime | None, end: datetime | None, what: str) -> str:
    if start is None or end is None:
        return f"Unknown: no {what} recorded."
    return format_duration(max(end - start, timedelta(0)))


def render_pdf(facts: Facts, doc: Document) -> bytes:
    w = _Writer()
    s = doc.sections
    w.heading(f"Postmortem: {facts.key} — {facts.title}", 16)
    w.paragraph(
        f"Status: {doc.status} · Revision {doc.version} · Owner: {doc.owner or _MISSING} · "
        f"Due: {_when(doc.deadline_at) if doc.deadline_at else 'not required'}"
    )
    origin = facts.started_at or facts.detected_at or facts.declared_at
    w.heading("1. Incident Summary")
    summary = [
        f"Severity: {facts.severity}",
        f"Duration: {_span(origin, facts.resolved_at, 'resolution time')}",
        f"Incident Commander: {facts.commander or _MISSING}",
        f"Teams: {', '.join(facts.teams) or _MISSING}",
        f"Services: {', '.join(facts.services) or _MISSING}",
    ]
    w.paragraph("\n".join(summary))
    w.paragraph(s.get("summary", ""))
    w.heading("2. Impact Assessment")
    figures = "\n".join(f"{k.replace('_', ' ')}: {v}" for k, v in facts.impact.items())
    w.paragraph(figures or "No impact figures recorded.")
    if s.get("impact"):
        w.paragraph(s["impact"])
    times = [
        f"Time to detect: {_span(facts.started_at, facts.detected_at, 'start or detection time')}",
        "Time to acknowledge: "
        + _span(facts.declared_at, facts.acknowledged_at, "acknowledgement"),
        f"Time to mitigate: {_span(origin, facts.mitigated_at, 'mitigation')}",
        f"Time to resolve: {_span(origin, facts.resolved_at, 'resolution')}",
    ]
    w.paragraph("\n".join(times))
    w.heading("3. Timeline")
    rows = [["Time", "Event", "Action Taken", "Owner"]] + [
        [
            r.at.strftime("%Y-%m-%d %H:%M"),
            r.type.replace("_", " "),
            r.description,
            r.actor or "system",
        ]
        for r in facts.timeline
        if r.type in KEY_EVENT_TYPES
    ]
    w.table(rows, (30, 25, 95, 30))
    w.heading("4. Root Cause Analysis")
    w.paragraph(f"Category: {doc.root_cause_category or _MISSING}")
    w.paragraph(s.get("root_cause", ""))
    w.heading("Contributing factors", 11)
    w.paragraph(s.get("contributing_factors", ""))
    w.heading("Five whys", 11)
    chain = "\n".join(f"{i}. Why {x.why} — because {x.because}" for i, x in enumerate(doc.whys, 1))
    w.paragraph(chain)
    if doc.repeat_of:
        w.paragraph(f"Repeat of: {', '.join(doc.repeat_of)}")
    w.heading("Resolution", 11)
    w.paragraph(s.get("resolution", ""))
    for number, (title, name) in enumerate(
        (("What Went Well", "went_well"), ("What Went Poorly", "went_poorly")), start=5
    ):
        w.heading(f"{number}. {title}")
        w.paragraph(s.get(name, ""))
    w.heading("7. Action Items")
    items = [["Priority", "Action", "Owner", "Due", "Status"]] + [
        [a.priority, a.title, a.owner, a.due_at.strftime("%Y-%m-%d") if a.due_at else "",
         a.status.replace("_", " ")]
        for a in facts.actions
    ]  # fmt: skip
    w.table(items, (18, 90, 30, 24, 18))
    w.heading("8. Prevention & Detection Improvements")
    w.paragraph(s.get("prevention", ""))
    w.heading("9. Lessons Learned")
    w.paragraph(s.get("lessons_learned", ""))
    return bytes(w.pdf.output())
