"""The postmortem as a standalone HTML page (autoescaped; no scripts, no outside assets)."""

from __future__ import annotations

import jinja2

from warroom.postmortems.render import KEY_EVENT_TYPES, Document, Facts

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
{% macro section(name, optional=False) %}{% set ps = paras.get(name, []) %}
{% for p in ps %}<p>{% for line in p %}{{ line }}{% if not loop.last %}<br>{% endif %}
{% endfor %}</p>{% else %}{% if not optional %}<p class="missing">Not recorded.</p>
{% endif %}{% endfor %}{% endmacro %}
<title>Postmortem {{ f.key }}: {{ f.title }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3rem;text-align:left}
.missing{color:#777;font-style:italic}
</style></head><body>
<h1>Postmortem: {{ f.key }} — {{ f.title }}</h1>
<p>Status: {{ d.status }} · Revision {{ d.version }} · Owner: {{ d.owner or "not set" }}
{% if d.deadline_at %} · Due {{ d.deadline_at.strftime("%Y-%m-%d %H:%M UTC") }}{% endif %}</p>
<h2>1. Incident Summary</h2>
<ul><li>Severity: {{ f.severity }}</li>
<li>Incident Commander: {{ f.commander or "not recorded" }}</li>
<li>Teams: {{ f.teams | join(", ") or "not recorded" }}</li>
<li>Services: {{ f.services | join(", ") or "not recorded" }}</li></ul>
{{ section("summary") }}
<h2>2. Impact Assessment</h2>
<ul>{% for k, v in f.impact.items() %}<li>{{ k }}: {{ v }}</li>{% else %}
<li class="missing">No impact figures recorded.</li>{% endfor %}</ul>
{{ section("impact", optional=True) }}
<h2>3. Timeline</h2>
<table><tr><th>Time</th><th>Event</th><th>Action Taken</th><th>Owner</th></tr>
{% for r in rows %}<tr><td>{{ r.at.strftime("%Y-%m-%d %H:%M") }}</td><td>{{ r.type }}</td>
<td>{{ r.description }}</td><td>{{ r.actor or "system" }}</td></tr>{% endfor %}</table>
<h2>4. Root Cause Analysis</h2>
<p>Category: {{ d.root_cause_category or "not set" }}</p>
{{ section("root_cause") }}
<h3>Contributing factors</h3>{{ section("contributing_factors") }}
<h3>Five whys</h3>
<ol>{% for w in d.whys %}<li>Why {{ w.why }} — because {{ w.because }}</li>{% else %}
<li class="missing">Not recorded.</li>{% endfor %}</ol>
<h3>Resolution</h3>{{ section("resolution") }}
<h2>5. What Went Well</h2>{{ section("went_well") }}
<h2>6. What Went Poorly</h2>{{ section("went_poorly") }}
<h2>7. Action Items</h2>
<table><tr><th>Priority</th><th>Action</th><th>Owner</th><th>Due</th><th>Status</th></tr>
{% for a in f.actions %}<tr><td>{{ a.priority }}</td><td>{{ a.title }}</td><td>{{ a.owner }}</td>
<td>{{ a.due_at.strftime("%Y-%m-%d") if a.due_at else "" }}</td><td>{{ a.status }}</td></tr>
{% endfor %}</table>
<h2>8. Prevention &amp; Detection Improvements</h2>{{ section("prevention") }}
<h2>9. Lessons Learned</h2>{{ section("lessons_learned") }}
</body></html>
"""

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def _paragraphs(text: str) -> list[list[str]]:
    return [p.strip().splitlines() for p in text.strip().split("\n\n") if p.strip()]


def render_html(facts: Facts, doc: Document) -> str:
    template = _ENV.from_string(_TEMPLATE)
    rows = [r for r in facts.timeline if r.type in KEY_EVENT_TYPES]
    paras = {name: _paragraphs(str(text)) for name, text in doc.sections.items()}
    return template.render(f=facts, d=doc, rows=rows, paras=paras)
