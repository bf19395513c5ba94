"""Incident Commander handoffs: a document drafted, edited, then confirmed by the incoming IC."""
