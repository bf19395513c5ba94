"""Response-time SLA clocks and the update cadence (docs/sla.md).

`logic` is pure (deadlines, texts); `service` arms the clocks from incident events and
handles the engine's `sla_warning`, `sla_breach` and `update_due` timers.
"""
