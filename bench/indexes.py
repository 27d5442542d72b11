"""Is every query a client sent served by an index? Checked from monitored commands, no server needed.

A query is served when its filter's fields are exactly the first fields of an index (in any order:
equality and range conditions on a key prefix), and its sort, if any, either sorts on filtered fields
or continues that index. A filter naming every field of a unique index (`_id` among them) is a lookup of
one document, served whatever else it says. An empty filter is served only when it asks for one document
(`find_one`) or when its sort is an index's leading fields. `_id` is always indexed.

Used by tests/test_query_indexes.py (against the driver's whole contract) and by the benchmark,
which checks the driver's queries in its own run the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import monitoring

# command name -> (where its statements are, the filter's key in a statement, the sort's key)
_FILTERED = {
    "find": (None, "filter", "sort"),
    "findAndModify": (None, "query", "sort"),
    "count": (None, "query", None),
    "distinct": (None, "query", None),
    "update": ("updates", "q", None),
    "delete": ("deletes", "q", None),
}


@dataclass(frozen=True)
class Query:
    """One filter a command sent: where, which command, its filter's fields and its sort's fields."""

    database: str
    collection: str
    command: str
    fields: frozenset[str]
    sort: tuple[str, ...]
    limit_one: bool
    text: str

    def __str__(self) -> str:
        return f"{self.command} on {self.database}.{self.collection}: {self.text}"


def filter_fields(filter_: Mapping[str, Any]) -> frozenset[str]:
    """The document fields a filter conditions on (`$and` flattened)."""
    fields: set[str] = set()
    for key, value in filter_.items():
        if key == "$and":
            for part in value:
                fields |= filter_fields(part)
        elif key.startswith("$"):
            fields.add(key)  # $or, $where, $expr...: never served by a key prefix check
        else:
            fields.add(key)
    return frozenset(fields)


def queries_of(command_name: str, command: Mapping[str, Any], database: str = "") -> list[Query]:
    """The filters in one monitored command (none for inserts, getMore, index commands...)."""
    if command_name not in _FILTERED:
        if command_name == "aggregate":
            stages = command.get("pipeline") or []
            match = stages[0].get("$match") if stages else None
            sort = tuple((stages[1].get("$sort") or {}) if len(stages) > 1 else ())
            return [_query(database, command, "aggregate", match or {}, sort, False)]
        return []
    statements_key, filter_key, sort_key = _FILTERED[command_name]
    statements = command.get(statements_key, []) if statements_key else [command]
    found = []
    for statement in statements:
        sort = tuple((statement.get(sort_key) or {}) if sort_key else ())
        limit = statement.get("limit", command.get("limit", 0))
        limit_one = command_name in ("findAndModify", "update") or limit in (1, -1)
        if command_name == "update":
            limit_one = not statement.get("multi", False)
        found.append(_query(database, command, command_name, statement.get(filter_key) or {}, sort, limit_one))
    return found


def _query(
    database: str,
    command: Mapping[str, Any],
    name: str,
    filter_: Mapping[str, Any],
    sort: Sequence[str],
    limit_one: bool,
) -> Query:
    return Query(
        database=database,
        collection=str(command.get(name if name in command else next(iter(command)))),
        command=name,
        fields=filter_fields(filter_),
        sort=tuple(sort),
        limit_one=limit_one,
        text=f"filter {dict(filter_)!r:.200} sort {list(sort)}",
    )


def index_keys_created(
    commands: Iterable[tuple[str, Mapping[str, Any], str]], *, unique_only: bool = False
) -> dict[tuple[str, str], set[tuple[str, ...]]]:
    """{(database, collection): {index key tuple}} from the createIndexes commands seen (those asking for
    unique indexes only, with `unique_only`); `_id`, always there, is not listed."""
    indexes: dict[tuple[str, str], set[tuple[str, ...]]] = {}
    for name, command, database in commands:
        if name == "createIndexes":
            for index in command.get("indexes", []):
                if index.get("unique") or not unique_only:
                    indexes.setdefault((database, command["createIndexes"]), set()).add(tuple(index["key"]))
    return indexes


def served(query: Query, indexes: Iterable[Sequence[str]], unique: Iterable[Sequence[str]] = ()) -> bool:
    """Whether one of `indexes` (key field lists; `_id` is added) serves the query's filter and sort, or the
    filter names every field of one of the `unique` ones (or `_id`)."""
    if any(set(key) <= query.fields for key in [("_id",), *unique]):
        return True
    for index in [("_id",), *map(tuple, indexes)]:
        width = len(query.fields)
        if set(index[:width]) != query.fields or len(index) < width:
            continue
        if not query.fields and not query.sort and not query.limit_one:
            continue  # an unbounded scan of the whole collection
        rest = index[width:]
        if all(key in query.fields for key in query.sort) or tuple(query.sort) == rest[: len(query.sort)]:
            return True
    return False


Indexes = Mapping[tuple[str, str], set[tuple[str, ...]]]


def unserved(queries: Iterable[Query], indexes: Indexes, unique: Indexes | None = None) -> list[Query]:
    """The queries no index of their collection serves (`unique`: those of `indexes` that are unique)."""
    return [
        q
        for q in queries
        if not served(
            q, indexes.get((q.database, q.collection), set()), (unique or {}).get((q.database, q.collection), set())
        )
    ]


class QueryRecorder(monitoring.CommandListener):
    """A pymongo command listener keeping only what the check needs: filters and index definitions.

    (Insert commands carry whole payloads; this keeps none of them.)
    """

    def __init__(self) -> None:
        self.queries: list[Query] = []
        self.index_commands: list[tuple[str, Mapping[str, Any], str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "createIndexes":
            self.index_commands.append((event.command_name, dict(event.command), event.database_name))
        else:
            self.queries += queries_of(event.command_name, event.command, event.database_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def unserved(self) -> list[Query]:
        commands = self.index_commands
        return unserved(self.queries, index_keys_created(commands), index_keys_created(commands, unique_only=True))
