"""The `brainstorm` commands: users, user, snapshots, snapshot and result, read from any database; delete;
verify and gc, which check the stored payloads and collect those nothing uses; migrate, which converts an
older layout; and copy (in `_copy`)."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import click

from brainstorm import __version__, settings
from brainstorm.console import CONTEXT_SETTINGS, Options, connected, database_option, json_option, reported_errors
from brainstorm.database_drivers import Driver, Result
from brainstorm.views import result_fields

from . import _copy, _deletion, _export, _format, _maintenance, _serve


@click.group(context_settings=CONTEXT_SETTINGS)
@database_option
@json_option
@click.version_option(__version__, "-V", "--version", prog_name="brainstorm")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Read the users, snapshots and results saved in the brainstorm database (or delete some, verify
    the stored payloads, collect those nothing uses, copy it all to another database).

    Every command takes -d/--database URL (default: $BRAINSTORM_DATABASE_URL, else the embedded
    SQLite file under $XDG_DATA_HOME/brainstorm/) and --json for machine-readable output.
    """
    ctx.ensure_object(Options)


@main.command(context_settings=CONTEXT_SETTINGS)
@database_option
@json_option
@click.pass_obj
def users(options: Options) -> None:
    """List every user: id and name."""
    with connected(options.database) as driver:
        found = driver.get_users()
    if options.json:
        _format.echo_json(found)
    else:
        click.echo(_format.table(["USER_ID", "USERNAME"], [(u["user_id"], u["username"]) for u in found]))


@main.command(context_settings=CONTEXT_SETTINGS)
@click.argument("user_id", type=int)
@database_option
@json_option
@click.pass_obj
def user(options: Options, user_id: int) -> None:
    """Show a user's details (times in the local time zone; TZ=UTC for UTC)."""
    with connected(options.database) as driver:
        found = _user(driver, user_id)
    if options.json:
        _format.echo_json(found)
    else:
        click.echo(_format.pairs(found.items()))


@main.command(context_settings=CONTEXT_SETTINGS)
@click.argument("user_id", type=int)
@database_option
@json_option
@click.pass_obj
def snapshots(options: Options, user_id: int) -> None:
    """List a user's snapshots, oldest first (times in the local time zone; TZ=UTC for UTC)."""
    with connected(options.database) as driver:
        _user(driver, user_id)
        found = driver.get_snapshots(user_id)
    if options.json:
        _format.echo_json(found)
    else:
        click.echo(_format.table(["SNAPSHOT_ID", "DATETIME"], [(s["snapshot_id"], s["datetime"]) for s in found]))


@main.command(context_settings=CONTEXT_SETTINGS)
@click.argument("user_id", type=int)
@click.argument("snapshot_id", type=int)
@database_option
@json_option
@click.pass_obj
def snapshot(options: Options, user_id: int, snapshot_id: int) -> None:
    """Show a snapshot: its datetime (in the local time zone) and the results it holds."""
    with connected(options.database) as driver:
        found = _snapshot(driver, user_id, snapshot_id)
    if options.json:
        _format.echo_json({"user_id": user_id, **found})
    else:
        click.echo(_format.pairs(found.items()))


@main.command(context_settings=CONTEXT_SETTINGS, short_help="Show one result, or --save its payload to a file.")
@click.argument("user_id", type=int)
@click.argument("snapshot_id", type=int)
@click.argument("result_name")
@click.option(
    "--save",
    "save_to",
    metavar="PATH",
    help="Write the result's payload to PATH (a file, a directory, or - for standard output), streamed: "
    "arrays as .npy, images as PNG, other payloads as stored.",
)
@click.option("--key", metavar="KEY", help="Which payload to --save when the result holds several (as listed).")
@database_option
@json_option
@click.pass_obj
def result(
    options: Options, user_id: int, snapshot_id: int, result_name: str, save_to: str | None, key: str | None
) -> None:
    """Show one result of a snapshot (payloads described, not printed), or --save its payload."""
    if key is not None and save_to is None:
        raise click.UsageError("--key chooses the payload to --save; give --save PATH too")
    with connected(options.database) as driver:
        found = _result(driver, user_id, snapshot_id, result_name)
        if save_to is not None:
            with reported_errors():
                exported = _export.export(
                    found,
                    _export.choose_key(found, key),
                    save_to,
                    f"{user_id}-{snapshot_id}-{result_name}" + ("" if key is None else f"-{key}"),
                )
            _report_export(options, exported)
            return
        fields, payloads = result_fields(found)
    if options.json:
        _format.echo_json(
            {
                "user_id": user_id,
                "snapshot_id": snapshot_id,
                "result_name": result_name,
                "fields": fields,
                "payloads": payloads,
            }
        )
        return
    shown = [
        (path, _describe_payload(payloads[path]) if path in payloads else value)
        for path, value in _format.flatten(fields)
    ]
    click.echo(_format.pairs(shown))


@main.command(context_settings=CONTEXT_SETTINGS, short_help="Delete a user, a snapshot or a result, payloads included.")
@click.argument("user_id", type=int)
@click.argument("snapshot_id", type=int, required=False)
@click.argument("result_name", required=False)
@click.option(
    "-y", "--yes", is_flag=True, help="Delete without asking (required when standard input is not a terminal)."
)
@database_option
@json_option
@click.pass_obj
def delete(options: Options, user_id: int, snapshot_id: int | None, result_name: str | None, yes: bool) -> None:
    """Delete a user (and all their snapshots), one snapshot (and its results) or one result.

    Their payloads go too. Says first what will be deleted (snapshots, results, payloads, bytes) and
    asks on a terminal; --yes skips the question and is required when standard input is not a
    terminal. Prints what was deleted.
    """
    with connected(options.database) as driver:
        deletion = _planned_deletion(driver, user_id, snapshot_id, result_name)
        _confirm(deletion, yes)
        if not deletion.carry_out(driver):
            raise click.ClickException(f"{deletion.target} is already gone: something else deleted it meanwhile")
    if options.json:
        _format.echo_json(deletion.as_json())
    else:
        click.echo(deletion.report())


@main.command(context_settings=CONTEXT_SETTINGS, short_help="Check every stored payload; exit 1 on any problem.")
@click.option("--user", "user_id", type=int, metavar="USER_ID", help="Check only this user's payloads.")
@database_option
@json_option
@click.pass_obj
def verify(options: Options, user_id: int | None) -> None:
    """Read back every payload published results use and check its length and sha256; without
    --user, also look for payloads nothing uses (orphaned), half-written uploads (incomplete) and
    snapshots without results (empty).

    Prints the counts and bytes by kind, then where each problem is. Changes nothing. Exit status 1
    when anything is missing, corrupt, orphaned, incomplete or empty (`brainstorm gc` removes the last three).
    """
    with connected(options.database) as driver:
        if user_id is not None:
            _user(driver, user_id)
        with _maintenance.progress_bar("verifying results, then the blob store") as progress:
            report = driver.verify(user_id, progress=progress)
    if options.json:
        _format.echo_json(report.as_dict())
    else:
        click.echo("\n".join(_maintenance.verify_lines(report, user_id)))
    if not report.ok:
        sys.exit(1)


@main.command(context_settings=CONTEXT_SETTINGS, short_help="Delete payloads nothing uses and half-written uploads.")
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@click.option(
    "--grace",
    default="1h",
    callback=_maintenance.grace_period,
    show_default=True,
    metavar="DURATION",
    help="Leave payloads uploaded this recently alone (a save may be about to use them): 90s, 30m, 1h, 2d, or seconds.",
)
@database_option
@json_option
@click.pass_obj
def gc(options: Options, dry_run: bool, grace: dt.timedelta) -> None:
    """Delete payloads no result uses (orphaned), uploads a killed writer left half-written and snapshots
    without results, all older than the grace period, and the pins killed writers left. Safe while others
    save and read.

    Prints what went (with --dry-run, what would go) and how many recent payloads were left alone.
    """
    with (
        connected(options.database) as driver,
        _maintenance.progress_bar("looking through the blob store") as progress,
    ):
        report = driver.collect_garbage(grace, dry_run=dry_run, progress=progress)
    if options.json:
        _format.echo_json(report.as_dict())
    else:
        click.echo("\n".join(_maintenance.gc_lines(report)))


@main.command(context_settings=CONTEXT_SETTINGS, short_help="Convert a database of an older layout to this version's.")
@database_option
@json_option
@click.pass_obj
def migrate(options: Options) -> None:
    """Bring the database to the layout this version of brainstorm writes (writes are refused until
    then; reading works meanwhile). Idempotent: run it again after an interruption, or to check.

    Stop every writer of an older brainstorm first; readers may go on.
    """
    with (
        connected(options.database) as driver,
        _maintenance.progress_bar("converting users") as progress,
    ):
        report = driver.migrate(progress=progress)
    if options.json:
        _format.echo_json(report.as_dict())
    else:
        click.echo(_maintenance.migration_line(report))


def _planned_deletion(
    driver: Driver, user_id: int, snapshot_id: int | None, result_name: str | None
) -> _deletion.Deletion:
    """What `delete` will remove, counted; the other commands' one-line error when it does not exist."""
    if snapshot_id is None:
        _user(driver, user_id)
        counts = _deletion.of_user(driver, user_id)
        return _deletion.Deletion("user", user_id, None, None, counts)
    if result_name is None:
        counts = _deletion.of_snapshot(driver, user_id, _snapshot(driver, user_id, snapshot_id))
        return _deletion.Deletion("snapshot", user_id, snapshot_id, None, counts)
    counts = _deletion.of_result(_result(driver, user_id, snapshot_id, result_name))
    return _deletion.Deletion("result", user_id, snapshot_id, result_name, counts)


def _confirm(deletion: _deletion.Deletion, yes: bool) -> None:
    """Ask on a terminal (no: `Aborted!`, exit 1); with no one to ask and no --yes, refuse: nothing is deleted."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.ClickException(
            f"not deleting {deletion.target} ({deletion.listed()}) without confirmation: "
            "standard input is not a terminal; pass --yes"
        )
    # On stderr, so that standard output holds only the report (JSON with --json).
    click.confirm(deletion.question(), abort=True, err=True)


def _user(driver: Driver, user_id: int) -> dict[str, Any]:
    found = driver.get_user(user_id)
    if found is None:
        raise click.ClickException(f"there is no user {user_id}")
    return found


def _snapshot(driver: Driver, user_id: int, snapshot_id: int) -> dict[str, Any]:
    found = driver.get_snapshot(user_id, snapshot_id) if snapshot_id > 0 else None
    if found is None:
        _user(driver, user_id)
        raise click.ClickException(f"user {user_id} has no snapshot {snapshot_id}")
    return found


def _result(driver: Driver, user_id: int, snapshot_id: int, result_name: str) -> Result:
    found = driver.get_result(user_id, snapshot_id, result_name) if snapshot_id > 0 else None
    if found is None:
        available = _snapshot(driver, user_id, snapshot_id)["available_results"]
        raise click.ClickException(
            f"snapshot {snapshot_id} of user {user_id} has no result {result_name!r}; "
            f"its results: {', '.join(available) or 'none'}"
        )
    return found


def _describe_payload(info: dict[str, Any]) -> str:
    length = _format.size(info["length"])
    return f"<{info['kind']} payload: {info['content_type']}, {length}, sha256 {info['sha256'][:16]}>"


def _report_export(options: Options, exported: _export.Exported) -> None:
    if options.json and exported.path != "-":
        _format.echo_json(
            {
                "path": exported.path,
                "key": exported.key,
                "written": exported.written,
                "converted_to": exported.converted_to,
                **{k: v for k, v in exported.info.items() if k != "path"},
            }
        )
        return
    where = "standard output" if exported.path == "-" else exported.path
    stored = exported.info["content_type"]
    what = f"{stored} converted to {exported.converted_to}" if exported.converted_to else stored
    message = f"wrote {exported.key} to {where} ({what}, {exported.written:,} bytes)"
    click.echo(message, err=exported.path == "-")


@main.command(context_settings=CONTEXT_SETTINGS, short_help="Serve the HTTP API and the web viewer.")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on (0.0.0.0: every one).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0: any free port.")
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="How much the server logs (info: one line per request).",
)
@database_option
@click.pass_obj
def serve(options: Options, host: str, port: int, log_level: str) -> None:
    """Serve the database over HTTP: a read-only JSON API that streams payloads (with ranges), and a
    web viewer at /. Listens on 127.0.0.1 (this machine only) unless --host says otherwise.
    """
    _serve.serve(settings.database_url(options.database), host, port, log_level)


main.add_command(_copy.copy)
