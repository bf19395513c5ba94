"""Appending to a hash chain: lock its head, link the new entry to the last one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from warroom.security.logic import GENESIS, chain_hash
from warroom.security.models import ChainHead


def _ensure_head(conn: Connection, chain: str) -> None:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        insert(ChainHead)
        .values(chain=chain, seq=0, hash=GENESIS)
        .on_conflict_do_nothing(index_elements=["chain"])
    )


def append_many(
    conn: Connection, chain: str, entries: list[dict[str, Any]]
) -> list[tuple[int, str, str]]:
    """Reserve the next entries of `chain`: return (seq, prev_hash, hash) for each, in
    order, and move the head past them.

    The head row is locked until the transaction ends (SQLite's writes are serialised
    anyway), so concurrent appends take turns and every sequence number is used once.
    """
    _ensure_head(conn, chain)
    query = select(ChainHead.seq, ChainHead.hash).where(ChainHead.chain == chain)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).one()
    seq, prev = int(row.seq), str(row.hash)
    linked = []
    for fields in entries:
        seq += 1
        digest = chain_hash(prev, {"seq": seq, **fields})
        linked.append((seq, prev, digest))
        prev = digest
    conn.execute(update(ChainHead).where(ChainHead.chain == chain).values(seq=seq, hash=prev))
    return linked


def next_link(session: Session, chain: str, fields: dict[str, Any]) -> tuple[int, str, str]:
    """Reserve the next entry of `chain` (see `append_many`)."""
    return append_many(session.connection(), chain, [fields])[0]


def head(session: Session, chain: str) -> tuple[int, str] | None:
    row = session.execute(
        select(ChainHead.seq, ChainHead.hash).where(ChainHead.chain == chain)
    ).first()
    return (int(row.seq), str(row.hash)) if row is not None else None
