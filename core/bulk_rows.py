"""Many rows through one statement, each value converted once, for the group commit's hot tables.

SQLAlchemy's ``connection.execute(statement, rows)`` checks and converts every parameter of every
row in Python before the driver sees them: in a batch of turns that was most of the writer's
time. A ``BulkStatement`` compiles its statement once per database dialect and converts each
value with the bind processor of its column's type (the same conversion SQLAlchemy applies: a
datetime as SQLite's text, a dict as JSON text through the store's serializer), then hands the
rows to the driver's ``executemany`` as they are. What is stored is the same.

A ``SelectByKeys`` does the same for the batch's one read, rows by a list of keys
(``WHERE id IN (...)``): SQLAlchemy renders an expanding ``IN`` anew on every call, a parameter
per key, and wraps every row it reads; this compiles the statement once per dialect and number of
keys and reads the driver's rows as they are (the columns it reads are ones no type converts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from .json_text import dumps_column

Converter = Callable[[Any], Any]
# Datetimes a converter is checked on before a faster one replaces it (aware and naive, with and
# without microseconds, an early year).
SAMPLE_TIMES = (dt.datetime(2026, 12, 3, 15, 4, 5, 123456, tzinfo=dt.timezone.utc), dt.datetime(2026, 1, 2, 3, 4, 5),
                dt.datetime(999, 1, 1, 0, 0, 0, 7))
# Documents a JSON converter is checked on: chinwag's serializer writes them as no other would.
SAMPLE_DOCUMENTS = ({"é": [1, 2.5, None, True], "n": {"deep": ["\u2028", "x"]}}, [{"big": 2**70}], {"lone": "\ud800"}, [])


class BulkStatement:
    """An INSERT or UPDATE run with many rows (dicts of its parameters) through the driver."""

    def __init__(self, statement: sa.Insert | sa.Update) -> None:
        self.statement = statement
        # (dialect name, parameter names) -> (SQL text, names in the driver's order, converters)
        self._compiled: dict[tuple[str, tuple[str, ...]], tuple[str, list[str], list[Converter | None]]] = {}

    def execute(self, connection: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> sa.CursorResult[Any]:
        """Run the statement once per row, in one ``executemany``; every row has the same keys."""
        dialect = connection.dialect
        keys = tuple(rows[0])
        compiled = self._compiled.get((dialect.name, keys))
        if compiled is None:
            compiled = self._compiled[(dialect.name, keys)] = self._compile(dialect, keys)
        sql, names, converters = compiled
        converted = [(index, convert) for index, convert in enumerate(converters) if convert is not None]
        data = []
        for row in rows:
            values = [row[name] for name in names]
            for index, convert in converted:  # only the values whose type converts them
                values[index] = convert(values[index])
            data.append(tuple(values))
        return connection.exec_driver_sql(sql, data)  # type: ignore[arg-type]

    def _compile(self, dialect: sa.Dialect, keys: tuple[str, ...]) -> tuple[str, list[str], list[Converter | None]]:
        if not dialect.positional:
            raise NotImplementedError(f"{dialect.name}: BulkStatement needs a driver with positional parameters")
        compiled = self.statement.compile(dialect=dialect, column_keys=list(keys))
        names = list(compiled.positiontup or ())
        converters = [faster(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names]
        return compiled.string, names, converters


class SelectByKeys:
    """``SELECT columns FROM ... WHERE key IN (...)`` (``FOR UPDATE`` where the database has it), run
    through the driver with a statement compiled once per dialect and number of keys."""

    def __init__(self, columns: Sequence[sa.Column[Any]], key: sa.Column[Any], for_update: bool = False) -> None:
        self.columns, self.key, self.for_update = list(columns), key, for_update
        # (dialect name, number of keys) -> (SQL text, the key's converter)
        self._compiled: dict[tuple[str, int], tuple[str, Converter | None]] = {}

    def rows(self, connection: sa.Connection, keys: Collection[Any]) -> list[tuple[Any, ...]]:
        """The rows whose key is one of ``keys`` (each key once), as tuples of ``columns``."""
        dialect = connection.dialect
        compiled = self._compiled.get((dialect.name, len(keys)))
        if compiled is None:
            compiled = self._compiled[(dialect.name, len(keys))] = self._compile(dialect, len(keys))
        sql, convert = compiled
        values = tuple(keys) if convert is None else tuple(convert(key) for key in keys)
        return [tuple(row) for row in connection.exec_driver_sql(sql, values)]

    def _compile(self, dialect: sa.Dialect, count: int) -> tuple[str, Converter | None]:
        if not dialect.positional:
            raise NotImplementedError(f"{dialect.name}: SelectByKeys needs a driver with positional parameters")
        for column in self.columns:
            if column.type.dialect_impl(dialect).result_processor(dialect, None) is not None:
                raise NotImplementedError(f"{column}: its values are converted when read; SelectByKeys reads them as they are")
        names = [f"k{index}" for index in range(count)]
        statement = sa.select(*self.columns).where(self.key.in_([sa.bindparam(name) for name in names]))
        compiled = (statement.with_for_update() if self.for_update else statement).compile(dialect=dialect)
        if list(compiled.positiontup or ()) != names:
            raise NotImplementedError(f"{dialect.name}: the keys are not the statement's parameters in order")
        return compiled.string, self.key.type.dialect_impl(dialect).bind_processor(dialect)


def faster(convert: Converter | None) -> Converter | None:
    """``convert``, or a faster converter that gives the same text for every sample value.

    SQLite stores a datetime as text; SQLAlchemy builds it with a ``%`` format and a dict, several
    times slower than ``datetime.isoformat``, which gives the same text (without the zone, which
    SQLAlchemy's SQLite text leaves out too). A turn's time is written in several rows (the
    session's and each transcript row's), so the text of the last datetimes is kept, by object.
    A dict or list for a JSON column goes straight to chinwag's serializer when it is the one
    SQLAlchemy calls (the same text for every sample document). Anything else is converted as before.
    """
    if convert is None:
        return None
    try:
        if all(_iso(sample) == convert(sample) for sample in SAMPLE_TIMES):
            return _datetime_text(convert)
    except (TypeError, ValueError, AttributeError):  # not a datetime converter
        pass
    try:
        if all(dumps_column(sample) == convert(sample) for sample in SAMPLE_DOCUMENTS):
            return _json_text(convert)
    except (TypeError, ValueError, AttributeError):  # not a JSON converter
        pass
    return convert


def _iso(value: dt.datetime) -> str:
    """SQLite's text of a datetime, as SQLAlchemy writes it (the zone left out)."""
    return value.isoformat(" ", "microseconds")[:26]


# The text of the datetimes converted last, by ``id``: (the datetime, its text). The datetime is
# held, so its id is not reused while it is here; emptied when full.
_recent_times: dict[int, tuple[dt.datetime, str]] = {}
RECENT_TIMES = 1024


def _datetime_text(convert: Converter) -> Converter:
    def datetime_text(value: Any) -> Any:
        if value.__class__ is not dt.datetime:
            return convert(value)
        known = _recent_times.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        if len(_recent_times) >= RECENT_TIMES:
            _recent_times.clear()
        text = _recent_times[id(value)] = (value, _iso(value))
        return text[1]

    return datetime_text


def _json_text(convert: Converter) -> Converter:
    def json_text(value: Any) -> Any:
        if value.__class__ is dict or value.__class__ is list:
            return dumps_column(value)
        return convert(value)

    return json_text
