"""Authority of incident roles: who may act, staffing of required roles, the IC rotation."""
