"""Escalation: paging along policies, the escalation matrix, signed acknowledge links.

`logic` and `matrix` are pure; `service` holds the event subscribers and timer handlers;
`views` the acknowledge link and the policy routes (docs/escalation.md).
"""
