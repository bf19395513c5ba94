"""The batch writer's PostgreSQL path: the same set-based apply as `service.apply_batch`,
driven from the event loop over one asynchronous psycopg connection.

A writer thread has to win the GIL back from the event loop after every round trip, and
under load each hand-over waits for the loop's switch interval; here a round trip is an
`await` and the loop serves requests meanwhile. A batch is one statement in one round trip
(`_BATCH`: lock, decide, update, insert, wake the engines, commit), where a transaction of
separate statements took four or five round trips.

Batches this path does not take — acknowledges, resolves, two firings of one Alertmanager
alert, a key another writer opened meanwhile, a firing whose resolve committed while the
batch waited for it — return None with nothing written, and the caller applies them with
`apply_batch` instead, in a fresh transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from sqlalchemy.engine import make_url

from warroom.alerts.logic import AlertEvent, AlertStatus
from warroom.alerts.service import (
    Applied,
    KeyAction,
    Source,
    complete,
    key_rows,
    plan_batch,
    settle,
)
from warroom.engine.wakeup import ALERTS, CHANNEL, forget_session, own_session

# One statement applies a whole batch of fast keys and commits on its own (the connection
# is in autocommit): one round trip, where a transaction of separate statements took four
# or five (BEGIN, the read, the probe of ended firings, the writes, COMMIT), each costing
# the event loop about as much CPU as the statement's share of every event's other work.
#
# `batch` takes one row per fast key, in key order, as one JSON document (a single string
# for psycopg to send, where text arrays would be escaped element by element): the dicts of
# `service.key_rows` as they are, numbered from 1 by `WITH ORDINALITY`. Each key's
# open alert is looked up on its own (LATERAL), so that the plan is an index probe per key
# whatever the statistics say (on a young table PostgreSQL believes `alerts` tiny and
# hashes every open alert), and locked (`FOR UPDATE`) in key order: two writers always
# lock in the same order, and a concurrent resolve either commits first, and the alert no
# longer counts as open, or waits for this batch. `action` is `service.decide`, in SQL.
#
# Every write waits for `verdict`, an aggregate over all of `batch`: no row is written
# before every lock is held (so writers that insert never wait on each other in a cycle),
# and nothing at all if a key `raced`. A key races when the statement's snapshot still
# shows an open alert with an instance that the lock no longer found open: it was resolved
# after the statement began, and only a fresh read can tell whether this firing has ended
# (separate statements each took a fresh snapshot). Such a batch writes nothing and goes
# the slow way, as does one whose insert meets a key another writer opened meanwhile: the
# insert has no `ON CONFLICT` clause, so the unique index fails the statement and
# PostgreSQL rolls the batch back whole.
_BATCH = """
WITH batch AS (
  SELECT u.*, a.id AS open_id,
    CASE
      WHEN a.id IS NOT NULL THEN
        CASE WHEN u.instance IS NOT NULL AND a.instance = u.instance
          THEN 'touch' ELSE 'update' END
      WHEN ended.yes THEN 'drop'
      WHEN seen.yes THEN 'raced'
      ELSE 'insert'
    END AS action
  FROM ROWS FROM (json_to_recordset(%(rows)s::json) AS (
    integration_id int4, dedup_key text, service text, occurrences int4,
    started_at timestamptz, instance text, summary text, source text, severity text,
    component text, group_name text, class_name text, labels json, details json,
    payload json, group_key text
  )) WITH ORDINALITY AS u(
    integration_id, dedup_key, service, occurrences, started_at, instance, summary, source,
    severity, component, group_name, class_name, labels, details, payload, group_key, ord
  )
  LEFT JOIN LATERAL (
    SELECT id, instance FROM alerts
    WHERE integration_id = u.integration_id AND dedup_key = u.dedup_key
      AND resolved_at IS NULL
    FOR UPDATE
  ) a ON true
  LEFT JOIN LATERAL (
    SELECT true AS yes FROM alerts
    WHERE a.id IS NULL AND u.instance IS NOT NULL
      AND integration_id = u.integration_id AND dedup_key = u.dedup_key
      AND instance = u.instance AND resolved_at IS NOT NULL
    LIMIT 1
  ) ended ON true
  LEFT JOIN LATERAL (
    SELECT true AS yes FROM alerts
    WHERE a.id IS NULL AND u.instance IS NOT NULL AND ended.yes IS NULL
      AND integration_id = u.integration_id AND dedup_key = u.dedup_key
      AND resolved_at IS NULL
    LIMIT 1
  ) seen ON true
),
verdict AS (
  SELECT coalesce(bool_or(action = 'raced'), false) AS raced FROM batch
),
touched AS (
  UPDATE alerts a SET last_seen = %(now)s
  FROM batch u
  WHERE a.id = u.open_id AND u.action = 'touch' AND NOT (SELECT raced FROM verdict)
),
updated AS ({update}),
inserted AS ({insert}),
notified AS (
  SELECT pg_notify('{channel}', '{alerts}') FROM verdict WHERE NOT raced
)
SELECT u.ord, u.action, coalesce(u.open_id, i.id), v.raced, (SELECT count(*) FROM notified)
FROM batch u CROSS JOIN verdict v
LEFT JOIN inserted i ON i.integration_id = u.integration_id AND i.dedup_key = u.dedup_key
"""

_UPDATE = """
  UPDATE alerts a SET
    occurrences = a.occurrences + u.occurrences, last_seen = %(now)s, instance = u.instance,
    summary = u.summary, source = u.source, severity = u.severity, component = u.component,
    group_name = u.group_name, class_name = u.class_name, labels = u.labels,
    details = u.details, payload = u.payload, group_key = u.group_key
  FROM batch u
  WHERE a.id = u.open_id AND u.action = 'update' AND NOT (SELECT raced FROM verdict)
"""

_INSERT = """
  INSERT INTO alerts (
    integration_id, dedup_key, status, service, occurrences, started_at, first_seen,
    last_seen, suppressed, instance, summary, source, severity, component, group_name,
    class_name, labels, details, payload, group_key
  )
  SELECT
    u.integration_id, u.dedup_key, '{triggered}', u.service, u.occurrences,
    u.started_at, %(now)s, %(now)s, false, u.instance, u.summary, u.source, u.severity,
    u.component, u.group_name, u.class_name, u.labels, u.details, u.payload, u.group_key
  FROM batch u
  WHERE u.action = 'insert' AND NOT (SELECT raced FROM verdict)
  ORDER BY u.ord
  RETURNING id, integration_id, dedup_key
"""

_INSERT = _INSERT.format(triggered=AlertStatus.TRIGGERED.value)
_BATCH = _BATCH.format(update=_UPDATE, insert=_INSERT, channel=CHANNEL, alerts=ALERTS)

# The statement's actions by name: a dict lookup, where calling the enum costs more.
_ACTIONS = {action.value: action for action in KeyAction}


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


# How long the batch statement's generic plan is kept. It is made from the statistics of
# the moment it is prepared: made while `alerts` was young and never analysed, it can
# probe the wrong index (every open alert of the integration, per key) for as long as the
# connection lives. Made again every few minutes, such a plan lasts minutes, not days.
REPLAN_EVERY = timedelta(minutes=10)


class PgBatchApplier:
    """Owns one asynchronous connection, opened on first use and again after a failure."""

    def __init__(self, database_url: str) -> None:
        self._conninfo = conninfo(database_url)
        # A database that cannot be reached must fail the batch (503) in seconds, not after
        # the system's TCP timeout; a connect_timeout in the URL wins.
        if "connect_timeout" not in conninfo_to_dict(self._conninfo):
            self._conninfo = make_conninfo(self._conninfo, connect_timeout=5)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        # Its backend's pid while it is open: its NOTIFY is this process's own (the caller
        # wakes the engines here, `on_commit`), noted while the connection lasts.
        self._pid: int | None = None
        self._planned_at: datetime | None = None

    async def close(self) -> None:
        self._forget_pid()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def _forget_pid(self) -> None:
        if self._pid is not None:
            forget_session(self._pid)
            self._pid = None

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._forget_pid()  # a connection that broke on its own
            conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            # One generic plan for the batch statement, made when it is first prepared:
            # planning it afresh for every batch (custom plans) cost the server more than
            # running it. A generic plan is made from the statistics of the moment, and on
            # a young table those say "scan (or hash) every row"; without sequential scans
            # every access is the index probe per key (or per id) that it should be as the
            # table grows. This connection runs nothing else.
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            await conn.execute("SET enable_seqscan = off")
            self._conn = conn  # in autocommit: each batch is one statement, its own transaction
            self._pid = conn.info.backend_pid
            own_session(self._pid)
            self._planned_at = None
        return self._conn

    async def _replan_when_due(self, conn: psycopg.AsyncConnection[Any], now: datetime) -> None:
        if self._planned_at is None:
            self._planned_at = now
        elif not self._planned_at <= now < self._planned_at + REPLAN_EVERY:
            # psycopg forgets its prepared statements with the server's (DEALLOCATE ALL):
            # the statement is planned again, from today's statistics, as on a new connection.
            await conn.execute("DEALLOCATE ALL")
            self._planned_at = now

    async def apply(
        self, pairs: Sequence[tuple[Source, AlertEvent]], now: datetime
    ) -> list[Applied] | None:
        """Apply and commit the batch; None if it needs the slow path (nothing written)."""
        plan = plan_batch(pairs)
        if plan.slow:
            return None
        keyed = key_rows(plan)
        rows = _json_rows([row for _, row in keyed])
        conn = await self._connection()
        try:
            await self._replan_when_due(conn, now)
            cur = await conn.execute(_BATCH, {"rows": rows, "now": now})
            done = await cur.fetchall()
        except psycopg.errors.UniqueViolation:
            return None  # another writer opened one of these keys: rolled back whole
        except BaseException:
            await self.close()  # whatever state it is in, start afresh
            raise
        if done and done[0][3]:
            return None  # a key raced a resolve: nothing was written
        for ord_, action, alert_id, _raced, _notified in done:  # ord_ counts from 1
            settle(plan, keyed[ord_ - 1][0], _ACTIONS[action], alert_id)
        return complete(plan.results)
