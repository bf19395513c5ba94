"""The batch writer's PostgreSQL path: the same set-based apply as `service.apply_batch`,
driven from the event loop over one asynchronous psycopg connection.

A writer thread has to win the GIL back from the event loop after every round trip, and
under load each hand-over waits for the loop's switch interval; here a round trip is an
`await` and the loop serves requests meanwhile. Each statement takes its rows as one JSON
document (`json_to_recordset`), so its text never changes. The read locks the open alerts
(`FOR UPDATE`, in key order): a concurrent resolve either commits first, and the alert no
longer counts as open, or waits for this batch.

Batches this path does not take — acknowledges, resolves, two firings of one Alertmanager
alert, a key another writer opened meanwhile — return None, and the caller applies them
with `apply_batch` instead, in a fresh transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from sqlalchemy.engine import make_url

from warroom.alerts.logic import AlertEvent
from warroom.alerts.service import (
    Applied,
    Key,
    OpenRow,
    Source,
    complete,
    plan_batch,
    plan_writes,
    record_created,
)
from warroom.engine.wakeup import CHANNEL

# Rows travel as one JSON document per statement (`json_to_recordset`): a single string for
# psycopg to send instead of a text array per column, which psycopg would escape element by
# element.

# Each key is looked up on its own (LATERAL) so that the plan is an index probe per key
# whatever the statistics say: on a young table PostgreSQL believes that `alerts` is tiny
# and hashes every open alert instead. The probes lock the open alerts in the order of the
# keys, which the caller sorts: two writers always lock in the same order.
_OPEN = """
SELECT a.id, u.integration_id, u.dedup_key, a.instance
FROM json_to_recordset(%(rows)s::json) AS u(integration_id int4, dedup_key text)
CROSS JOIN LATERAL (
  SELECT id, instance FROM alerts
  WHERE integration_id = u.integration_id AND dedup_key = u.dedup_key
    AND resolved_at IS NULL
  FOR UPDATE
) a
"""

# New keys whose firing (instance) has already ended: a late copy must not reopen it.
_ENDED = """
SELECT u.integration_id, u.dedup_key, u.instance
FROM json_to_recordset(%(rows)s::json) AS u(integration_id int4, dedup_key text, instance text)
CROSS JOIN LATERAL (
  SELECT 1 FROM alerts
  WHERE integration_id = u.integration_id AND dedup_key = u.dedup_key
    AND instance = u.instance AND resolved_at IS NOT NULL
  LIMIT 1
) a
"""

_TOUCH = """
UPDATE alerts a SET last_seen = %(now)s
FROM unnest(%(ids)s::int4[]) AS u(id)
WHERE a.id = u.id
"""

_UPDATE = """
UPDATE alerts a SET
  occurrences = a.occurrences + u.n, last_seen = %(now)s, instance = u.instance,
  summary = u.summary, source = u.source, severity = u.severity, component = u.component,
  group_name = u.group_name, class_name = u.class_name, labels = u.labels,
  details = u.details, payload = u.payload, group_key = u.group_key
FROM json_to_recordset(%(rows)s::json) AS u(
  id int4, n int4, instance text, summary text, source text, severity text,
  component text, group_name text, class_name text, labels json, details json,
  payload json, group_key text
)
WHERE a.id = u.id
"""

_INSERT = """
INSERT INTO alerts (
  integration_id, dedup_key, status, service, occurrences, started_at, first_seen,
  last_seen, suppressed, instance, summary, source, severity, component, group_name,
  class_name, labels, details, payload, group_key
)
SELECT
  u.integration_id, u.dedup_key, u.status, u.service, u.occurrences, u.started_at,
  %(now)s, %(now)s, u.suppressed, u.instance, u.summary, u.source, u.severity,
  u.component, u.group_name, u.class_name, u.labels, u.details, u.payload, u.group_key
FROM json_to_recordset(%(rows)s::json) AS u(
  integration_id int4, dedup_key text, status text, service text, occurrences int4,
  started_at timestamptz, suppressed bool, instance text, summary text, source text,
  severity text, component text, group_name text, class_name text, labels json,
  details json, payload json, group_key text
)
ON CONFLICT (integration_id, dedup_key) WHERE resolved_at IS NULL DO NOTHING
RETURNING id, integration_id, dedup_key
"""


def _json_rows(rows: Sequence[dict[str, Any]]) -> str:
    # orjson encodes these ~1 KB rows several times faster than the json module; it refuses
    # integers beyond 64 bits, which JSON (and the json module) allow in a payload.
    try:
        return orjson.dumps(rows).decode()
    except orjson.JSONEncodeError:
        return json.dumps(rows, default=_iso, separators=(",", ":"))


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in an alert")


def conninfo(database_url: str) -> str:
    """A psycopg connection string for a SQLAlchemy database URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PgBatchApplier:
    """Owns one asynchronous connection, opened on first use and again after a failure."""

    def __init__(self, database_url: str) -> None:
        self._conninfo = conninfo(database_url)
        # A database that cannot be reached must fail the batch (503) in seconds, not after
        # the system's TCP timeout; a connect_timeout in the URL wins.
        if "connect_timeout" not in conninfo_to_dict(self._conninfo):
            self._conninfo = make_conninfo(self._conninfo, connect_timeout=5)
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            # Plan each statement with its rows and the table as it is now. A generic plan
            # is made once, from the statistics of the moment: on a young table, a scan of
            # every open alert that is never revisited as the table grows.
            await conn.execute("SET plan_cache_mode = force_custom_plan")
            await conn.set_autocommit(False)
            self._conn = conn
        return self._conn

    async def apply(
        self, pairs: Sequence[tuple[Source, AlertEvent]], now: datetime
    ) -> list[Applied] | None:
        """Apply and commit the batch; None if it needs the slow path (nothing written)."""
        plan = plan_batch(pairs)
        if plan.slow:
            return None
        conn = await self._connection()
        try:
            async with conn.transaction():
                cur = conn.cursor()
                await cur.execute(_OPEN, {"rows": _keys(sorted(plan.fast))})
                open_rows: dict[Key, OpenRow] = {
                    (integration_id, key): OpenRow(alert_id, instance)
                    for alert_id, integration_id, key, instance in await cur.fetchall()
                }
                ended: set[tuple[int, str, str]] = set()
                probe = plan.probe_keys(open_rows)
                if probe:
                    keyed = [
                        {"integration_id": i, "dedup_key": k, "instance": instance}
                        for (i, k), instance in probe.items()
                    ]
                    await cur.execute(_ENDED, {"rows": json.dumps(keyed)})
                    ended = {(i, k, inst) for i, k, inst in await cur.fetchall()}
                writes = plan_writes(plan, open_rows, ended, now)
                created: dict[Key, int] = {}
                async with conn.pipeline():
                    if writes.touches:
                        await cur.execute(_TOUCH, {"now": now, "ids": writes.touches})
                    if writes.updates:
                        rows = _json_rows(writes.updates)
                        await cur.execute(_UPDATE, {"now": now, "rows": rows})
                    if writes.inserts:
                        inserted = conn.cursor()
                        rows = _json_rows(writes.inserts)
                        await inserted.execute(_INSERT, {"now": now, "rows": rows})
                    await cur.execute(f"NOTIFY {CHANNEL}")
                if writes.inserts:
                    created = {(i, k): alert_id for alert_id, i, k in await inserted.fetchall()}
                if record_created(plan, writes.inserts, created):
                    raise _Conflict  # another writer opened one of these keys since our read
        except _Conflict:
            return None
        except BaseException:
            await self.close()  # whatever state it is in, start afresh
            raise
        return complete(plan.results)


def _keys(keys: Sequence[Key]) -> str:
    return json.dumps([{"integration_id": i, "dedup_key": k} for i, k in keys])


class _Conflict(Exception):
    """Rolls the transaction back: the batch goes the slow way."""
