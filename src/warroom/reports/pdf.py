"""A periodic report as PDF (fpdf2, as the postmortems are): the figures as text and the
charts drawn as vector bars — the same geometry as the HTML's SVG (`render.bars`)."""

from __future__ import annotations

import itertools
from typing import Any

from warroom.postmortems.pdf import _Writer
from warroom.reports import render

#: Chart size on the page, in millimetres.
CHART_WIDTH = 180.0
CHART_HEIGHT = 45.0


class _Report(_Writer):
    def chart(self, title: str, values: list[tuple[str, int | float]], label_every: int) -> None:
        """Draw a bar chart: bars scaled to the largest value, labels under some bars."""
        pdf = self.pdf
        if pdf.get_y() + CHART_HEIGHT + 20 > pdf.h - pdf.b_margin:
            pdf.add_page()  # the title stays with its chart
        self.heading(title, 11)
        left, top = pdf.l_margin, pdf.get_y()
        geometry = render.bars(values, width=int(CHART_WIDTH * 10), height=int(CHART_HEIGHT * 10))
        pdf.set_fill_color(192, 57, 43)
        pdf.set_draw_color(150, 150, 150)
        for bar in geometry:
            if bar["h"] > 0:
                pdf.rect(left + bar["x"] / 10, top + bar["y"] / 10, bar["w"] / 10, bar["h"] / 10,
                         style="F")  # fmt: skip
        base = top + CHART_HEIGHT - 1.5
        pdf.line(left, base, left + CHART_WIDTH, base)
        pdf.set_font(self.family, "", 6)
        for i, bar in enumerate(geometry):
            if i % label_every == 0 or i == len(geometry) - 1:
                pdf.text(left + bar["x"] / 10, base + 3, self.text(f"{bar['label']}"))
            if bar["value"]:
                pdf.text(left + bar["x"] / 10, top + bar["y"] / 10 - 0.8, self.text(
                    _number(bar["value"])))  # fmt: skip
        pdf.set_y(base + 6)
        pdf.set_font(self.family, "", 10)

    def line_chart(self, title: str, values: list[tuple[str, float | None]]) -> None:
        """Draw a line chart (`render.line_chart`): the runs of values as lines, a dot per
        value, a gap where a bucket has none."""
        pdf = self.pdf
        if pdf.get_y() + CHART_HEIGHT + 20 > pdf.h - pdf.b_margin:
            pdf.add_page()
        geometry = render.line_chart(values, width=int(CHART_WIDTH * 10),
                                     height=int(CHART_HEIGHT * 10))  # fmt: skip
        self.heading(f"{title} (top: {geometry['top_text']})", 11)
        left, top = pdf.l_margin, pdf.get_y()
        pdf.set_draw_color(41, 128, 185)
        pdf.set_fill_color(41, 128, 185)
        for run in geometry["runs"]:
            for a, b in itertools.pairwise(run):
                pdf.line(left + a["x"] / 10, top + a["y"] / 10, left + b["x"] / 10,
                         top + b["y"] / 10)  # fmt: skip
        for point in geometry["points"]:
            x, y = left + point["x"] / 10, top + point["y"] / 10
            pdf.ellipse(x - 0.6, y - 0.6, 1.2, 1.2, style="F")
        pdf.set_draw_color(150, 150, 150)
        base = top + CHART_HEIGHT - 1.5
        pdf.line(left, base, left + CHART_WIDTH, base)
        pdf.set_font(self.family, "", 6)
        if values:
            pdf.text(left, base + 3, self.text(geometry["first"]))
            pdf.text(left + CHART_WIDTH - 15, base + 3, self.text(geometry["last"]))
        if not geometry["points"]:
            pdf.text(left, top + CHART_HEIGHT / 2, self.text("Nothing measured."))
        pdf.set_y(base + 6)
        pdf.set_font(self.family, "", 10)


def _number(value: float) -> str:
    return f"{value:g}"


def report_pdf(data: dict[str, Any]) -> bytes:
    """Render a periodic report (`periodic.report`) as a PDF document."""
    w = _Report()
    w.pdf.set_title(f"Incident report {data['period']}: {data['label']}")
    m = data["metrics"]
    w.heading(f"Incident report, {data['period']}: {data['label']} ({data['timezone']})", 15)
    mix = ", ".join(f"{k}: {v}" for k, v in sorted(m["by_severity"].items()))
    w.paragraph(f"Incidents: {m['count']}" + (f" ({mix})" if mix else ""))
    w.table([["Metric", "Mean", "Median", "p90", "Incidents"], *render.metric_rows(data)],
            (25, 30, 30, 30, 65))  # fmt: skip
    w.heading("SLA compliance", 11)
    w.table([["Clock", "Compliance", "Met", "Breached", "Running", "Missing"],
             *render.sla_rows(m)], (35, 30, 25, 30, 30, 30))  # fmt: skip
    w.paragraph(
        f"Repeat rate: {render.rate_text(m['repeat_rate'])}; action-item completion: "
        f"{render.rate_text(m['action_item_completion_rate'])}\n"
        f"Business impact: {render.impact_text(m)}"
    )
    over_time = [(b["bucket"], b["incidents"]) for b in data["over_time"]]
    w.chart("Incidents over time", over_time, label_every=max(1, len(over_time) // 8))
    for name in ("mtta", "mttr"):
        w.line_chart(f"{name.upper()} over time (median)", render.mttx_values(data, name))
    w.chart("Severity mix", sorted(m["by_severity"].items()), label_every=1)
    if data["top_services"]:
        top = [(s["service"], s["incidents"]) for s in data["top_services"]]
        w.chart("Top services", top, label_every=1)
    compliance = render.sla_chart_values(m)
    if compliance:
        w.chart("SLA compliance (%)", compliance, label_every=1)
    if "open_incidents" in data:
        w.heading("Open incidents", 11)
        rows = [["Incident", "Severity", "Status", "Title"]] + [
            [i["id"], i["severity"], i["status"], i["title"]] for i in data["open_incidents"]
        ]
        if len(rows) > 1:
            w.table(rows, (25, 20, 30, 105))
        else:
            w.paragraph("None.")
    for note in m.get("notes") or []:
        w.paragraph(f"Note: {note}")
    w.paragraph(f"Generated {data['generated_at']} by warroom.")
    return bytes(w.pdf.output())
