"""Every table, imported in one place for Alembic and for tests that create the schema."""

from warroom.alerts.models import Alert
from warroom.auth.models import ApiToken
from warroom.incidents.models import Incident, IncidentParticipant, IncidentRole, IncidentService
from warroom.integrations.models import Integration
from warroom.timeline.models import TimelineEvent

__all__ = [
    "Alert",
    "ApiToken",
    "Incident",
    "IncidentParticipant",
    "IncidentRole",
    "IncidentService",
    "Integration",
    "TimelineEvent",
]
