"""Every table, imported in one place for Alembic and for tests that create the schema."""

from warroom.alerts.models import Alert
from warroom.alerts.rule_models import RuleState
from warroom.auth.models import ApiToken
from warroom.changes.models import Change
from warroom.engine.models import DeliveryAttempt, Notification, Timer
from warroom.heartbeats.models import Heartbeat
from warroom.incidents.models import Incident, IncidentParticipant, IncidentRole, IncidentService
from warroom.integrations.models import Integration
from warroom.maintenance.models import MaintenanceWindow
from warroom.oncall.models import ScheduleOverride, StoredSchedule
from warroom.reports.models import ImportedIncident
from warroom.timeline.models import TimelineEvent

__all__ = [
    "Alert",
    "ApiToken",
    "Change",
    "DeliveryAttempt",
    "Heartbeat",
    "ImportedIncident",
    "Incident",
    "IncidentParticipant",
    "IncidentRole",
    "IncidentService",
    "Integration",
    "MaintenanceWindow",
    "Notification",
    "RuleState",
    "ScheduleOverride",
    "StoredSchedule",
    "TimelineEvent",
    "Timer",
]
