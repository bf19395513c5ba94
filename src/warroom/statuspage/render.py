"""HTML pages and feeds of the public status page, rendered from the page facts.

Jinja with autoescaping for HTML and XML: everything a person typed is escaped. The pages
need no JavaScript and load one stylesheet, served from the same directory.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from importlib import resources

import jinja2

from warroom.config.incidents import ComponentStatus
from warroom.statuspage.documents import IncidentFacts, PageFacts, UpdateFacts, ts
from warroom.statuspage.logic import COMPONENT_LABEL, DayRollup

FEED_ITEMS = 50


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%b %d, %Y %H:%M UTC")


def _day(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%B %d, %Y")


def _rfc822(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def _bar_class(rollup: DayRollup) -> str:
    if not rollup.observed:
        return "nodata"
    return {
        ComponentStatus.MAJOR_OUTAGE: "major",
        ComponentStatus.PARTIAL_OUTAGE: "partial",
        ComponentStatus.DEGRADED_PERFORMANCE: "degraded",
    }.get(rollup.worst, "ok")


def _bar_title(rollup: DayRollup) -> str:
    if not rollup.observed:
        return f"{rollup.day.isoformat()}: no data"
    if rollup.worst is ComponentStatus.OPERATIONAL:
        return f"{rollup.day.isoformat()}: no downtime recorded"
    parts = [
        f"{label} {minutes:.0f} min"
        for label, minutes in (
            ("major outage", rollup.major),
            ("partial outage", rollup.partial),
            ("degraded", rollup.degraded),
        )
        if minutes
    ]
    return f"{rollup.day.isoformat()}: " + ", ".join(parts)


@cache
def _environment() -> jinja2.Environment:
    source = resources.files("warroom.statuspage") / "templates"
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: (source / name).read_text(encoding="utf-8")),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "xml", "rss", "atom", "svg"), default=True
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=_when, day=_day, rfc822=_rfc822, iso=ts, bar_class=_bar_class, bar_title=_bar_title
    )
    env.globals["LABEL"] = COMPONENT_LABEL
    return env


def _feed_entries(page: PageFacts) -> list[tuple[IncidentFacts, UpdateFacts]]:
    entries = [(i, u) for i in page.incidents for u in i.updates]
    entries.sort(key=lambda pair: pair[1].created_at, reverse=True)
    return entries[:FEED_ITEMS]


def render_pages(page: PageFacts) -> dict[str, bytes]:
    """index.html, history.html, one page per incident, the feeds and the stylesheet."""
    env = _environment()
    common = {"page": page, "indicator": page.indicator}
    files = {
        "index.html": env.get_template("index.html").render(**common),
        "history.html": env.get_template("history.html").render(**common),
        "history.rss": env.get_template("history.rss").render(
            entries=_feed_entries(page), **common
        ),
        "history.atom": env.get_template("history.atom").render(
            entries=_feed_entries(page), **common
        ),
        "status.css": env.get_template("status.css").render(),
        "favicon.svg": env.get_template("favicon.svg").render(),
    }
    for incident in page.incidents:
        files[f"incidents/{incident.code}.html"] = env.get_template("incident.html").render(
            incident=incident, **common
        )
    for maintenance in page.maintenances:
        files[f"incidents/{maintenance.code}.html"] = env.get_template("maintenance.html").render(
            maintenance=maintenance, **common
        )
    return {name: text.encode("utf-8") for name, text in files.items()}


def render_message(name: str, title: str, text: str) -> str:
    """A small page for the subscription links (confirmed, unsubscribed, not valid)."""
    return _environment().get_template("message.html").render(name=name, title=title, text=text)
