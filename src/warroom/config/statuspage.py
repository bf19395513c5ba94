"""The `status_page:` section: the public page's name, its components and their groups."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from warroom.config.base import Strict
from warroom.config.incidents import ComponentStatus

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class StatusComponentConfig(Strict):
    """One thing customers recognise (API, Website); `services` are the internal services
    behind it, so their maintenance windows and incidents can name it."""

    name: Label
    description: Annotated[str, StringConstraints(max_length=1_000)] = ""
    group: Label | None = None
    services: list[str] = []
    status: ComponentStatus = ComponentStatus.OPERATIONAL


class StatusGroupConfig(Strict):
    name: Label
    description: Annotated[str, StringConstraints(max_length=1_000)] = ""


class MessageTemplate(Strict):
    """A Jinja template (plain text) for one kind of stakeholder message."""

    subject: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    body: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class AudienceConfig(Strict):
    """Who hears a stakeholder update for each severity (`"*"`: any severity).

    `email` takes addresses and user handles (their e-mail); `chat` takes Slack channels
    (`#incidents`), `@handles` and user ids. `templates` overrides the defaults by kind:
    `initial`, `update`, `resolution`.
    """

    email: dict[str, list[str]] = {}
    chat: dict[str, list[str]] = {}
    templates: dict[Literal["initial", "update", "resolution"], MessageTemplate] = {}


class StatuspageIoConfig(Strict):
    """Mirror components and public updates to an Atlassian Statuspage page; the API key
    is the setting WARROOM_STATUSPAGE_API_KEY, never in this file."""

    page_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,64}$")]
    # Local component name → the Statuspage component id; others are not mirrored.
    components: dict[str, Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,64}$")]] = {}


class StatusPageConfig(Strict):
    name: Label = "Status"
    # Where customers read the page (links in feeds and e-mails); empty: WARROOM_BASE_URL.
    url: str = ""
    time_zone: str = "Etc/UTC"
    # Let subscribers give webhooks on loopback and private networks (tests, intranets).
    allow_private_webhooks: bool = False
    groups: list[StatusGroupConfig] = []
    components: list[StatusComponentConfig] = Field(default_factory=list, max_length=500)
    statuspage_io: StatuspageIoConfig | None = None
    # Stakeholder updates by audience (docs/status-page.md): internal, executive,
    # technical, customer (customers also read the public page).
    stakeholders: dict[
        Literal["internal", "executive", "technical", "customer"], AudienceConfig
    ] = {}

    @model_validator(mode="after")
    def _names_unique(self) -> StatusPageConfig:
        seen: set[str] = set()
        for index, component in enumerate(self.components):
            if component.name in seen:
                raise ValueError(f"components.{index}.name: {component.name!r} is listed twice")
            seen.add(component.name)
        if self.statuspage_io is not None:
            for name in self.statuspage_io.components:
                if name not in seen:
                    raise ValueError(
                        f"statuspage_io.components.{name}: no component of the page has this name"
                    )
        groups = {g.name for g in self.groups}
        for component in self.components:
            if component.group is not None and component.name in groups:
                raise ValueError(f"{component.name!r} is both a component and a group")
        return self
