"""The console's navigation bar: one entry a page, in the order the bar shows them.

Pages register nothing here at import time; the list is the console's table of contents,
so a reader sees every top-level page in one place. `admin_only` entries are shown to
admins alone (the pages themselves check the role again).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NAV", "NavItem", "active_item"]


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    admin_only: bool = False


NAV: tuple[NavItem, ...] = (
    NavItem("Incidents", "/"),
    NavItem("Alerts", "/alerts"),
    NavItem("On-call", "/oncall"),
    NavItem("Schedules", "/schedules"),
    NavItem("Escalation", "/escalation"),
    NavItem("Maintenance", "/maintenance"),
    NavItem("Integrations", "/integrations"),
    NavItem("Notifications", "/notifications"),
    NavItem("Reports", "/reports"),
    NavItem("Settings", "/settings", admin_only=True),
)


def active_item(path: str) -> str:
    """The href of the entry a request path belongs to ("/" for incidents and the dashboard)."""
    best = "/"
    for item in NAV:
        if item.href != "/" and (path == item.href or path.startswith(item.href + "/")):
            best = item.href
    return best
