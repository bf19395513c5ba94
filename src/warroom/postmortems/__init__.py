"""Postmortems and action items: learning from an incident (docs/postmortems.md)."""
