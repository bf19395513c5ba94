"""PagerDuty's 202 is built from bytes: it must be exactly what a JSONResponse gave."""

from __future__ import annotations

import pytest
from starlette.responses import JSONResponse

from warroom.alerts.views import pd_accepted

KEYS = [
    "k",
    "ünïcode ✓",
    'q"uo\\te',
    "ctl\x01\x1f\x7f\n\t\b\f\r",
    "\u2028\u2029",
    "😀",
    "</script>",
    "a" * 300,
]


@pytest.mark.parametrize("key", KEYS)
def test_accepted_is_the_json_response_byte_for_byte(key: str) -> None:
    body = {"status": "success", "message": "Event processed", "dedup_key": key}
    want = JSONResponse(body, status_code=202)
    got = pd_accepted(key)
    assert (got.status_code, got.body, got.raw_headers) == (
        want.status_code,
        want.body,
        want.raw_headers,
    )
