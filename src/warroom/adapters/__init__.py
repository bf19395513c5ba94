"""Real adapters for outside systems; each takes a base URL so tests can point it at a
local server (see `warroom.testing`)."""
