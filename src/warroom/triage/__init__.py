"""Triage: seed 003's impact, urgency and reach into a priority, a severity and teams."""

from warroom.triage.logic import TriageInput, TriageResult, triage

__all__ = ["TriageInput", "TriageResult", "triage"]
