"""A bounded schemathesis run against /openapi.json with an admin token: no 5xx, no answer
that breaks the schema (the longer run is `make fuzz`)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PG_URL
from tests.e2e.fuzzing import run_on

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(database: str) -> None:
    if database == "postgresql" and not PG_URL:
        pytest.skip("WARROOM_TEST_DATABASE_URL is not set")
    # Bounded by count (5 examples per operation); the time bound is only a backstop, wide
    # enough that a busy machine still gets through every operation.
    outcome = run_on(database, seconds=90, examples=5)
    print(outcome.summary(database))
    assert outcome.requests > 200, outcome.output[-3000:]
    assert outcome.server_errors == 0, outcome.summary(database) + outcome.output[-3000:]
    assert outcome.exit_code == 0, outcome.output[-6000:]
    # The run reached the API with the token and also fed it input it had to refuse.
    assert outcome.statuses[200] > 0 and outcome.statuses[422] > 0
