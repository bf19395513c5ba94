"""Insight: incident metrics, periodic reports, history import, warroom's own health."""
