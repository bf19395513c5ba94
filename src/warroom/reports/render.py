"""Reports as Markdown and as HTML with server-drawn SVG charts (no scripts, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jinja2 import Environment, select_autoescape

from warroom.reports.logic import METRICS

CHART_WIDTH = 640
CHART_HEIGHT = 160


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def bars(
    values: Sequence[tuple[str, float]],
    width: int = CHART_WIDTH,
    height: int = CHART_HEIGHT,
) -> list[dict[str, Any]]:
    """Return the geometry of a vertical bar chart: one rectangle per value."""
    if not values:
        return []
    top = max(v for _, v in values) or 1
    slot = width / len(values)
    out = []
    for i, (label, value) in enumerate(values):
        h = round(value / top * (height - 20), 1)
        out.append(
            {
                "label": label,
                "value": value,
                "x": round(i * slot + slot * 0.1, 1),
                "w": round(slot * 0.8, 1),
                "y": round(height - 15 - h, 1),
                "h": h,
            }
        )
    return out


def line_chart(
    values: Sequence[tuple[str, float | None]],
    width: int = CHART_WIDTH,
    height: int = CHART_HEIGHT,
) -> dict[str, Any]:
    """Return the geometry of a line chart: a point per value at the middle of its slot (the
    same slots as `bars`), scaled to the largest value; `runs`, the points of each run of
    consecutive values (a bucket without a value, None, breaks the line: it is never drawn
    as zero) and `paths`, the same as SVG polyline points. `top` is the value the chart's
    top stands for."""
    top = max((v for _, v in values if v is not None), default=0) or 1
    slot = width / max(1, len(values))
    points: list[dict[str, Any]] = []
    runs: list[list[dict[str, Any]]] = [[]]
    for i, (label, value) in enumerate(values):
        if value is None:
            runs.append([])
            continue
        x = round(i * slot + slot / 2, 1)
        y = round(height - 15 - value / top * (height - 20), 1)
        point = {"label": label, "value": value, "text": _duration(value), "x": x, "y": y}
        points.append(point)
        runs[-1].append(point)
    runs = [run for run in runs if run]
    return {
        "top": top,
        "top_text": _duration(top),
        "points": points,
        "runs": runs,
        "paths": [" ".join(f"{p['x']},{p['y']}" for p in run) for run in runs],
        "first": values[0][0] if values else "",
        "last": values[-1][0] if values else "",
    }


def mttx_values(data: dict[str, Any], name: str) -> list[tuple[str, float | None]]:
    """A metric's median per bucket (`trend.mttx_over_time`), for `line_chart`."""
    return [(b["bucket"], b[f"{name}_median"]) for b in data.get("mttx_over_time", [])]


def _mttx_markdown(data: dict[str, Any]) -> list[str]:
    out = []
    for b in data.get("mttx_over_time", []):
        if b["mtta_measured"] or b["mttr_measured"]:
            out.append(
                f"- {b['bucket']}: MTTA {_duration(b['mtta_median'])} ({b['mtta_measured']}), "
                f"MTTR {_duration(b['mttr_median'])} ({b['mttr_measured']})"
            )
    return out or ["- nothing measured"]


def _rows(data: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    m = data["metrics"]
    rows = []
    for metric in METRICS:
        s = m[metric.name]
        rows.append(
            (
                metric.name.upper(),
                _duration(s["mean"]),
                _duration(s["median"]),
                _duration(s["p90"]),
                f"{s['measured']} measured, {s['missing']} missing",
            )
        )
    return rows


def metric_rows(data: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """The MTTx table's rows: metric, mean, median, p90, incidents measured and missing."""
    return _rows(data)


def sla_rows(m: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """The SLA table's rows: clock, compliance, met, breached, running, missing."""
    return [
        (clock, _rate(t["compliance"]), str(t["met"]), str(t["breached"]), str(t["running"]),
         str(t["missing"]))
        for clock, t in (m.get("sla") or {}).items()
    ]  # fmt: skip


def sla_chart_values(m: dict[str, Any]) -> list[tuple[str, float]]:
    """Compliance per clock in percent, for the clocks that have a figure."""
    return [
        (clock, round(t["compliance"] * 100, 1))
        for clock, t in (m.get("sla") or {}).items()
        if t["compliance"] is not None
    ]


def _impact(m: dict[str, Any]) -> str:
    bi = m.get("business_impact") or {}
    if bi.get("total") is None:
        return "n/a (no revenue figures or affected users)"
    return f"{bi['total']:,.2f} ({bi['valued']} incidents valued, {bi['missing']} not)"


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def impact_text(m: dict[str, Any]) -> str:
    return _impact(m)


def rate_text(value: float | None) -> str:
    return _rate(value)


def markdown(data: dict[str, Any]) -> str:
    """Render the report as Markdown."""
    m = data["metrics"]
    lines = [
        f"# Incident report, {data['period']}: {data['label']} ({data['timezone']})",
        "",
        f"Incidents: **{m['count']}**"
        + (
            " (" + ", ".join(f"{k}: {v}" for k, v in sorted(m["by_severity"].items())) + ")"
            if m["by_severity"]
            else ""
        ),
        "",
        "| metric | mean | median | p90 | incidents |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in _rows(data)]
    lines += [
        "",
        "| SLA clock | compliance | met | breached | running | missing |",
        "|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in sla_rows(m)]
    lines += [
        "",
        f"Repeat rate: {_rate(m['repeat_rate'])}; "
        f"action-item completion: {_rate(m['action_item_completion_rate'])}",
        "",
        f"Business impact: {_impact(m)}",
        "",
    ]
    if data["top_services"]:
        lines += ["## Top services", ""]
        lines += [f"- {_md(s['service'])}: {s['incidents']}" for s in data["top_services"]]
        lines.append("")
    lines += ["## Incidents over time", ""]
    lines += [f"- {b['bucket']}: {b['incidents']}" for b in data["over_time"] if b["incidents"]]
    lines += ["", "## MTTA and MTTR over time (median; incidents measured)", ""]
    lines += _mttx_markdown(data)
    if "open_incidents" in data:
        lines += ["", "## Open incidents", ""]
        lines += [
            f"- {i['id']} {i['severity']} {i['status']}: {_md(i['title'])}"
            for i in data["open_incidents"]
        ] or ["- none"]
    if m.get("notes"):
        lines += ["", *(f"_Note: {_md(n)}_" for n in m["notes"])]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Escape what Markdown would read as markup or HTML."""
    out = []
    for ch in text:
        if ch in "\\`*_{}[]()#+-.!|<>&":
            out.append("\\" + ch)
        elif ch in "\r\n":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Incident report {{ d.period }}: {{ d.label }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
svg text{font-size:9px;fill:#444}.bar{fill:#c0392b}.sev{fill:#2c3e50}.top{fill:#8e44ad}
</style></head><body>
<h1>Incident report, {{ d.period }}: {{ d.label }} <small>({{ d.timezone }})</small></h1>
<p>Incidents: <strong>{{ m.count }}</strong></p>
<table><tr><th>metric</th><th>mean</th><th>median</th><th>p90</th><th>incidents</th></tr>
{% for r in rows %}<tr>{% for c in r %}<td>{{ c }}</td>{% endfor %}</tr>
{% endfor %}</table>
<h2>SLA compliance</h2>
<table><tr><th>clock</th><th>compliance</th><th>met</th><th>breached</th><th>running</th>
<th>missing</th></tr>
{% for r in sla_rows %}<tr>{% for c in r %}<td>{{ c }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% if sla_chart %}<svg role="img" aria-label="SLA compliance" width="{{ w }}" height="{{ h }}"
 viewBox="0 0 {{ w }} {{ h }}" xmlns="http://www.w3.org/2000/svg">
{% for b in sla_chart %}<rect class="sev" x="{{ b.x }}" y="{{ b.y }}" width="{{ b.w }}"
 height="{{ b.h }}"><title>{{ b.label }}: {{ b.value }} %</title></rect>
<text x="{{ b.x }}" y="{{ h - 2 }}">{{ b.label }} ({{ b.value }} %)</text>
{% endfor %}</svg>{% endif %}
<p>Repeat rate: {{ repeat }}; action-item completion: {{ completion }}</p>
<p>Business impact: {{ impact }}</p>
<h2>Incidents over time</h2>
<svg role="img" aria-label="Incidents over time" width="{{ w }}" height="{{ h }}"
 viewBox="0 0 {{ w }} {{ h }}" xmlns="http://www.w3.org/2000/svg">
{% for b in over_time %}<rect class="bar" x="{{ b.x }}" y="{{ b.y }}" width="{{ b.w }}"
 height="{{ b.h }}"><title>{{ b.label }}: {{ b.value }}</title></rect>
{% endfor %}<line x1="0" y1="{{ h - 15 }}" x2="{{ w }}" y2="{{ h - 15 }}" stroke="#999"/>
{% if over_time %}<text x="0" y="{{ h - 2 }}">{{ over_time[0].label }}</text>
<text x="{{ w }}" y="{{ h - 2 }}" text-anchor="end">{{ over_time[-1].label }}</text>{% endif %}
</svg>
<h2>MTTA and MTTR over time (median)</h2>
{% for title, c in mttx %}<svg role="img" aria-label="{{ title }}" width="{{ w }}" height="{{ h }}"
 viewBox="0 0 {{ w }} {{ h }}" xmlns="http://www.w3.org/2000/svg">
<text x="0" y="9">{{ title }} (top: {{ c.top_text }})</text>
{% for p in c.paths %}<polyline class="trend" points="{{ p }}" fill="none" stroke="#2980b9"/>
{% endfor %}{% for p in c.points %}<circle class="trend-point" cx="{{ p.x }}" cy="{{ p.y }}" r="2.5"
 fill="#2980b9"><title>{{ p.label }}: {{ p.text }}</title></circle>
{% endfor %}<line x1="0" y1="{{ h - 15 }}" x2="{{ w }}" y2="{{ h - 15 }}" stroke="#999"/>
<text x="0" y="{{ h - 2 }}">{{ c.first }}</text>
<text x="{{ w }}" y="{{ h - 2 }}" text-anchor="end">{{ c.last }}</text>
</svg>{% endfor %}
<h2>Severity mix</h2>
<svg role="img" aria-label="Severity mix" width="{{ w }}" height="{{ h }}"
 viewBox="0 0 {{ w }} {{ h }}" xmlns="http://www.w3.org/2000/svg">
{% for b in severity %}<rect class="sev" x="{{ b.x }}" y="{{ b.y }}" width="{{ b.w }}"
 height="{{ b.h }}"><title>{{ b.label }}: {{ b.value }}</title></rect>
<text x="{{ b.x }}" y="{{ h - 2 }}">{{ b.label }} ({{ b.value }})</text>
{% endfor %}</svg>
{% if d.top_services %}<h2>Top services</h2>
<svg role="img" aria-label="Top services" width="{{ w }}" height="{{ h }}"
 viewBox="0 0 {{ w }} {{ h }}" xmlns="http://www.w3.org/2000/svg">
{% for b in top %}<rect class="top" x="{{ b.x }}" y="{{ b.y }}" width="{{ b.w }}"
 height="{{ b.h }}"><title>{{ b.label }}: {{ b.value }}</title></rect>
<text x="{{ b.x }}" y="{{ h - 2 }}">{{ b.label }} ({{ b.value }})</text>
{% endfor %}</svg><ul>
{% for s in d.top_services %}<li>{{ s.service }}: {{ s.incidents }}</li>{% endfor %}</ul>{% endif %}
{% if d.open_incidents is defined %}<h2>Open incidents</h2><ul>
{% for i in d.open_incidents %}<li>{{ i.id }} {{ i.severity }} {{ i.status }}: {{ i.title }}</li>
{% else %}<li>none</li>{% endfor %}</ul>{% endif %}
{% for n in m.notes %}<p><em>Note: {{ n }}</em></p>{% endfor %}
</body></html>
"""

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_page = _env.from_string(_TEMPLATE)


def html(data: dict[str, Any]) -> str:
    """Render the report as a self-contained HTML page with inline SVG charts."""
    m = data["metrics"]
    return _page.render(
        d=data,
        m=m,
        rows=_rows(data),
        repeat=_rate(m["repeat_rate"]),
        completion=_rate(m["action_item_completion_rate"]),
        impact=_impact(m),
        w=CHART_WIDTH,
        h=CHART_HEIGHT,
        over_time=bars([(b["bucket"], b["incidents"]) for b in data["over_time"]]),
        severity=bars(sorted(m["by_severity"].items())),
        sla_rows=sla_rows(m),
        sla_chart=bars(sla_chart_values(m)),
        top=bars([(s["service"], s["incidents"]) for s in data["top_services"]]),
        mttx=mttx_charts(data),
    )


def mttx_charts(
    data: dict[str, Any], width: int = CHART_WIDTH, height: int = CHART_HEIGHT
) -> list[tuple[str, dict[str, Any]]]:
    """The two MTTx line charts (MTTA, MTTR), each on its own scale: MTTR is often hours
    where MTTA is minutes, and one scale would flatten MTTA to the axis."""
    return [
        (f"{name.upper()} (median)", line_chart(mttx_values(data, name), width, height))
        for name in ("mtta", "mttr")
    ]
