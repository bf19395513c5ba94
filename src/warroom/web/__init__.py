"""The web shell: server-rendered pages (Jinja2) and HTMX fragments over the domain services."""
