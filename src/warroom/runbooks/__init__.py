"""Runbooks as live per-incident checklists, and approvals of actions that need the IC."""
