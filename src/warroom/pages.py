"""What every server-rendered page shares, whichever domain renders it.

The templates and static assets live in `warroom/web/`; a domain's pages (the
acknowledge link, the problem report form) use these without importing the web shell.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "STATIC_DIR", "TEMPLATE_DIR"]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

_WEB = Path(__file__).parent / "web"
STATIC_DIR = _WEB / "static"
TEMPLATE_DIR = _WEB / "templates"
