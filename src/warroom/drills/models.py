"""Drills: a scripted exercise, the alerts it injected, and (through incidents.drill_id)
the incident it opened. The row lives in `warroom.drillmarks`, where the layers below the
drills capability can read it."""

from warroom.drillmarks import Drill

__all__ = ["Drill"]
