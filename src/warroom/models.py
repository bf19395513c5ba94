"""Every table, imported in one place for Alembic and for tests that create the schema."""

from warroom.alerts.models import Alert
from warroom.alerts.rule_models import RuleState
from warroom.auth.models import ApiToken
from warroom.changes.models import Change
from warroom.chat.models import ChatAction, ChatChannel
from warroom.drills.models import Drill
from warroom.engine.models import DeliveryAttempt, Notification, Timer
from warroom.handoffs.models import Handoff
from warroom.heartbeats.models import Heartbeat
from warroom.incidents.models import Incident, IncidentParticipant, IncidentRole, IncidentService
from warroom.integrations.models import Integration
from warroom.maintenance.models import MaintenanceWindow
from warroom.oncall.models import ScheduleOverride, StoredSchedule
from warroom.postmortems.models import ActionItem, Postmortem, PostmortemRevision
from warroom.reports.models import ImportedIncident
from warroom.runbooks.models import Approval, ChecklistStep
from warroom.security.models import (
    AuditEntry,
    Breach,
    ChainHead,
    CustodyEntry,
    EvidenceItem,
    LegalHold,
    RegulatoryClock,
)
from warroom.statuspage.models import PublicIncident, PublicIncidentUpdate, StatusComponent
from warroom.timeline.models import TimelineEvent

__all__ = [
    "ActionItem",
    "Alert",
    "ApiToken",
    "Approval",
    "AuditEntry",
    "Breach",
    "ChainHead",
    "Change",
    "ChatAction",
    "ChatChannel",
    "ChecklistStep",
    "CustodyEntry",
    "DeliveryAttempt",
    "Drill",
    "EvidenceItem",
    "Handoff",
    "Heartbeat",
    "ImportedIncident",
    "Incident",
    "IncidentParticipant",
    "IncidentRole",
    "IncidentService",
    "Integration",
    "LegalHold",
    "MaintenanceWindow",
    "Notification",
    "Postmortem",
    "PostmortemRevision",
    "PublicIncident",
    "PublicIncidentUpdate",
    "RegulatoryClock",
    "RuleState",
    "ScheduleOverride",
    "StatusComponent",
    "StoredSchedule",
    "TimelineEvent",
    "Timer",
]
