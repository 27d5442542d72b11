"""The conventions every brainstorm command line follows, for `brainstorm` and `python -m brainstorm.saver` alike.

Every command takes `-d/--database URL` (else `$BRAINSTORM_DATABASE_URL`, else the embedded default;
see `brainstorm.settings`), and the reading ones `--json`; both may be given on the group or on the
command (`Options` collects them). Expected failures (a bad URL, an unreachable database, an unknown
id, a bad message) become one `Error: ...` line on stderr and exit status 1, never a traceback; the
drivers' messages already hide credentials.

    @click.group(context_settings=CONTEXT_SETTINGS)
    @database_option
    def main(): ...

    @main.command(context_settings=CONTEXT_SETTINGS)
    @database_option
    @click.pass_obj
    def users(options: Options) -> None:
        with connected(options.database) as driver: ...
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import click

import brainstorm.database_drivers as db_drivers
from brainstorm import settings

__all__ = [
    "CONTEXT_SETTINGS",
    "DATABASE_HELP",
    "Options",
    "connected",
    "database_option",
    "json_option",
    "reported_errors",
]

F = TypeVar("F", bound=Callable[..., Any])

DATABASE_HELP = (
    f"Database URL (mongodb://..., sqlite:///file.db). Default: ${settings.DATABASE_URL_ENV}, else the embedded "
    "SQLite file $XDG_DATA_HOME/brainstorm/brainstorm.db (~/.local/share/brainstorm/brainstorm.db)."
)
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclass
class Options:
    """The options a command was given, on the group or on the command itself (the command's win)."""

    database: str | None = None
    json: bool = False


def _remember_database(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(Options).database = value


def _remember_json(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(Options).json = True


def database_option(function: F) -> F:
    """`-d/--database URL`, remembered in the context's `Options`."""
    return click.option(
        "-d",
        "--database",
        metavar="URL",
        default=None,
        expose_value=False,
        callback=_remember_database,
        help=DATABASE_HELP,
    )(function)


def json_option(function: F) -> F:
    """`--json`: machine-readable output, remembered in the context's `Options`."""
    return click.option(
        "--json",
        is_flag=True,
        default=False,
        expose_value=False,
        callback=_remember_json,
        help="Print JSON (datetimes in ISO 8601, payloads described, never their bytes).",
    )(function)


@contextlib.contextmanager
def reported_errors(prefix: str = "") -> Iterator[None]:
    """Turn the package's errors (and file errors) into click's one-line `Error: ...` with exit status 1."""
    try:
        yield
    except db_drivers.BrainstormError as exc:
        raise click.ClickException(f"{prefix}{exc}") from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename and str(exc.filename) not in prefix else ""
        raise click.ClickException(f"{prefix}{where}{exc.strerror or exc}") from None


@contextlib.contextmanager
def connected(database: str | None) -> Iterator[db_drivers.Driver]:
    """The driver for `database` (resolved by `settings.database_url`), closed afterwards; errors reported."""
    with reported_errors():
        driver = db_drivers.connect(settings.database_url(database))
        try:
            yield driver
        finally:
            driver.close()
