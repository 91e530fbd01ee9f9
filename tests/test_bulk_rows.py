"""Rows written through ``BulkStatement`` are stored exactly as SQLAlchemy's own executemany stores
them, on SQLite and PostgreSQL: the same text for datetimes and JSON, read back the same; rows read
through ``SelectByKeys`` are the rows SQLAlchemy's own select reads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from chinwag.bulk_rows import BulkStatement, SelectByKeys
from chinwag.store import Store

metadata = sa.MetaData()
COLUMNS = lambda: (sa.Column("id", sa.String(40), primary_key=True), sa.Column("n", sa.Integer, nullable=True),  # noqa: E731
                   sa.Column("at", sa.DateTime(timezone=True), nullable=True), sa.Column("doc", sa.JSON, nullable=True))
by_sqlalchemy = sa.Table("by_sqlalchemy", metadata, *COLUMNS())
by_bulk = sa.Table("by_bulk", metadata, *COLUMNS())

UTC = dt.timezone.utc
ROWS = [
    {"id": "a", "n": 1, "at": dt.datetime(2026, 12, 3, 15, 4, 5, 123456, tzinfo=UTC), "doc": {"é": [1, 2.5, None], "s": "x"}},
    {"id": "b", "n": None, "at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "doc": {"big": 2**70, "lone": "\ud800"}},
    {"id": "c", "n": -7, "at": None, "doc": None},
    {"id": "d", "n": 0, "at": dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))), "doc": []},
]


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = f"sqlite+aiosqlite:///{tmp_path / 'b.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    opened = Store(url, metadata)
    await opened.create_schema()
    yield opened
    await opened.close()


def stored(connection: sa.Connection, table: sa.Table) -> list[tuple[Any, ...]]:
    """Each row as the database holds it: datetimes and JSON as text."""
    columns = [sa.cast(column, sa.Text) if column.name in ("at", "doc") else column for column in table.c]
    return [tuple(row) for row in connection.execute(sa.select(*columns).order_by(table.c.id))]


async def test_rows_are_stored_as_sqlalchemy_stores_them(store: Store) -> None:
    bulk = BulkStatement(sa.insert(by_bulk))

    def write(connection: sa.Connection) -> tuple[list[Any], list[Any], list[Any]]:
        connection.execute(sa.insert(by_sqlalchemy), ROWS)
        bulk.execute(connection, ROWS)
        return (stored(connection, by_sqlalchemy), stored(connection, by_bulk),
                [tuple(row) for row in connection.execute(sa.select(by_bulk).order_by(by_bulk.c.id))])

    expected, written, read_back = await store.in_transaction(write)
    assert written == expected
    assert [row[3] for row in read_back] == [row["doc"] for row in ROWS]
    assert read_back[0][2].replace(tzinfo=UTC) == ROWS[0]["at"]


async def test_an_update_with_many_rows_changes_each_row(store: Store) -> None:
    update = BulkStatement(by_bulk.update().where(by_bulk.c.id == sa.bindparam("b_id"))
                           .values(n=sa.bindparam("b_n"), doc=sa.bindparam("b_doc")))

    def write(connection: sa.Connection) -> list[Any]:
        BulkStatement(sa.insert(by_bulk)).execute(connection, ROWS)
        update.execute(connection, [{"b_id": "a", "b_n": 10, "b_doc": {"v": 1}}, {"b_id": "c", "b_n": 30, "b_doc": [3]}])
        return [tuple(row) for row in connection.execute(sa.select(by_bulk.c.id, by_bulk.c.n, by_bulk.c.doc)
                                                          .order_by(by_bulk.c.id))]

    assert await store.in_transaction(write) == [("a", 10, {"v": 1}), ("b", None, ROWS[1]["doc"]), ("c", 30, [3]),
                                                 ("d", 0, [])]


async def test_rows_selected_by_keys_are_the_rows_sqlalchemy_reads(store: Store) -> None:
    by_keys = SelectByKeys([by_bulk.c.id, by_bulk.c.n], by_bulk.c.id, for_update=True)

    def read(connection: sa.Connection) -> tuple[list[Any], ...]:
        BulkStatement(sa.insert(by_bulk)).execute(connection, ROWS)
        results = []
        for keys in ({"a"}, {"a", "c", "missing"}, ["d", "b", "a", "c"], {"a", "b"}):
            expected = connection.execute(sa.select(by_bulk.c.id, by_bulk.c.n).where(by_bulk.c.id.in_(keys)))
            results.append((sorted(by_keys.rows(connection, keys), key=str), sorted(map(tuple, expected), key=str)))
        return tuple(results)

    for got, expected in await store.in_transaction(read):
        assert got == expected


async def test_a_time_written_in_several_rows_is_written_alike_and_equal_times_by_their_own_fields(store: Store) -> None:
    """One turn's time goes in several rows (its text is kept, by object); a time equal to it in
    another zone has other fields, and SQLite's text is of the fields, as SQLAlchemy writes it."""
    moment = dt.datetime(2026, 12, 3, 15, 4, 5, 123456, tzinfo=UTC)
    same_instant = moment.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert same_instant == moment
    rows = [{"id": "a", "n": 1, "at": moment, "doc": {"i": 1}}, {"id": "b", "n": 2, "at": moment, "doc": {"i": 2}},
            {"id": "c", "n": 3, "at": same_instant, "doc": {"i": 3}}, {"id": "d", "n": 4, "at": moment, "doc": [4]}]

    def write(connection: sa.Connection) -> tuple[list[Any], list[Any]]:
        connection.execute(sa.insert(by_sqlalchemy), rows)
        for _ in range(2):  # the second time, every time's text is known already
            connection.execute(sa.delete(by_bulk))
            BulkStatement(sa.insert(by_bulk)).execute(connection, rows)
        return stored(connection, by_sqlalchemy), stored(connection, by_bulk)

    expected, written = await store.in_transaction(write)
    assert written == expected
