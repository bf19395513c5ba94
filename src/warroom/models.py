"""Every table, imported in one place for Alembic and for tests that create the schema."""

from warroom.auth.models import ApiToken
from warroom.incidents.models import Incident, IncidentParticipant, IncidentRole, IncidentService
from warroom.timeline.models import TimelineEvent

__all__ = [
    "ApiToken",
    "Incident",
    "IncidentParticipant",
    "IncidentRole",
    "IncidentService",
    "TimelineEvent",
]
