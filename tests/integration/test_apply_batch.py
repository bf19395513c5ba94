"""The set-based batch apply agrees with applying events one by one, event for event.

Random batches (triggers, acknowledges, resolves, Alertmanager-style firings with
instances, repeats within a batch) go once through `apply_event` for integrations 1 and 2 and
once through `apply_batch` for integrations 3 and 4 of the same database; every outcome and
every resulting row must match.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from tests.integration.batch_twins import (
    BATCHED,
    ONE_BY_ONE,
    T0,
    add_integrations,
    check_results,
    check_rows,
    random_event,
)
from warroom.alerts.service import apply_batch, apply_event
from warroom.db import Database


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batch_apply_matches_one_by_one(db: Database, seed: int) -> None:
    add_integrations(db)
    rnd = random.Random(seed)
    ids: dict[int, int] = {}
    for b in range(120):
        now = T0 + timedelta(seconds=b)
        picks = [(rnd.randrange(2), random_event(rnd)) for _ in range(rnd.randint(1, 12))]
        with db.unit_of_work() as uow:
            want = [
                apply_event(uow.session, source=ONE_BY_ONE[i], event=e, now=now) for i, e in picks
            ]
            got = apply_batch(uow.session, [(BATCHED[i], e) for i, e in picks], now)
            uow.commit()
        check_results(want, got, ids, b)
    check_rows(db, ids)
