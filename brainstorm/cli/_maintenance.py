"""`brainstorm verify` and `brainstorm gc`: the grace period as typed, the progress bar, and the reports as printed.

The commands themselves are in `_commands` (with the others); what they print is built here from the
drivers' `VerifyReport` and `GarbageReport`, so `--json` and the text show the same numbers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sys
from collections.abc import Callable, Iterator

import click
from tqdm import tqdm

from brainstorm.database_drivers import GarbageReport, MigrationReport, VerifyReport

from . import _format

Progress = Callable[[int], None]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_BAR_FORMAT = "{desc}: {n_fmt} [{elapsed}, {rate_fmt}]"


def grace_period(ctx: click.Context, param: click.Parameter, value: str) -> dt.timedelta:
    """`--grace`: a non-negative span as people type it, `90s`, `30m`, `1h`, `2d`, or plain seconds (`0`);
    anything else is a usage error naming those forms."""
    matched = _DURATION.fullmatch(value)
    try:
        if matched is None:
            raise ValueError(value)
        return dt.timedelta(seconds=float(matched[1]) * _UNITS[matched[2] or "s"])
    except (ValueError, OverflowError):
        raise click.BadParameter(
            f"{value!r} is not a duration: give a number of seconds (0, 3600) or a number with a unit, "
            "s, m, h or d (90s, 30m, 1h, 2d)",
            ctx,
            param,
        ) from None


def duration(seconds: float) -> str:
    """A span in the largest unit that divides it exactly, as `--grace` reads it back: `1h`, `90m`, `0s`."""
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if seconds and seconds % size == 0:
            return f"{seconds // size:.0f}{unit}"
    return f"{seconds:g}s"


@contextlib.contextmanager
def progress_bar(description: str) -> Iterator[Progress | None]:
    """A counter on stderr for the driver's `progress` callback, or None when stderr is not a terminal.

    Logs and pipes get no bar: it would fill them with carriage returns. The total is unknown (the
    driver counts as it goes), so the bar shows the count and the rate; it is cleared at the end,
    when the report says the same.
    """
    if not sys.stderr.isatty():
        yield None
        return
    with tqdm(desc=description, file=sys.stderr, bar_format=_BAR_FORMAT, unit="", leave=False) as bar:

        def advance(done: int) -> None:
            bar.update(done)

        yield advance


def verify_lines(report: VerifyReport, user_id: int | None) -> list[str]:
    """The counts by kind, aligned, then each problem where it is; orphans are only looked for database-wide."""
    whole = user_id is None
    not_looked_for = f"not looked for (only without --user; checked user {user_id})"
    rows = [
        ("checked", _format.counted(report.checked.count, report.checked.bytes, "payload")),
        ("missing", _format.counted(report.missing.count, report.missing.bytes, "payload")),
        ("corrupt", _format.counted(report.corrupt.count, report.corrupt.bytes, "payload")),
        ("orphaned", _format.counted(report.orphaned.count, report.orphaned.bytes, "payload") if whole else None),
        ("incomplete", _format.counted(report.incomplete.count, report.incomplete.bytes, "upload") if whole else None),
        ("empty", f"{report.empty_snapshots:,} snapshots without results" if whole else None),
    ]
    shown = [(name, not_looked_for if value is None else value) for name, value in rows]
    return [_format.pairs(shown), *report.problems]


def gc_lines(report: GarbageReport) -> list[str]:
    """What collecting garbage deleted (with --dry-run: would delete) and what the grace period spared."""
    grace = duration(report.grace_seconds)
    if report.dry_run:
        heading = f"dry run, nothing deleted: would collect (grace period {grace})"
        orphans = _format.counted(report.orphaned.count, report.orphaned.bytes, "payload")
        pins = "only looked for when collecting"
    else:
        heading = f"collected (grace period {grace})"
        orphans = _format.counted(report.collected.count, report.collected.bytes, "payload")
        if report.collected.count != report.orphaned.count:
            orphans += f" ({report.orphaned.count - report.collected.count} taken back by a save meanwhile)"
        pins = f"{report.stale_pins:,}"
    recent = _format.counted(report.recent.count, report.recent.bytes, "payload")
    return [
        heading,
        _format.pairs(
            [
                ("orphaned payloads", orphans),
                ("incomplete uploads", _format.counted(report.incomplete.count, report.incomplete.bytes, "upload")),
                ("stale pins", pins),
                ("empty snapshots", f"{report.empty_snapshots:,}"),
                ("in use", _format.counted(report.in_use.count, report.in_use.bytes, "payload")),
                ("unused, left alone", f"{recent}, uploaded within the grace period"),
            ]
        ),
    ]


def migration_line(report: MigrationReport) -> str:
    """What `migrate` did, in one line."""
    if report.layout_before is None:
        return f"a new database: layout {report.layout_after} recorded, nothing to convert"
    if report.layout_before == report.layout_after:
        return f"layout {report.layout_after}: up to date, nothing to migrate"
    users = f"{report.converted:,} user{'s' * (report.converted != 1)}"
    return f"migrated from layout {report.layout_before} to layout {report.layout_after}: {users} converted"
