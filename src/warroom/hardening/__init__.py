"""Robustness: bounded input, body limits, database faults, timeouts (docs/robustness.md)."""
