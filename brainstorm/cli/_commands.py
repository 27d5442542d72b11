"""The `brainstorm` commands: users, user, snapshots, snapshot and result, read from any database."""

from __future__ import annotations

from typing import Any

import click

from brainstorm import __version__
from brainstorm.database_drivers import Driver, Result

from . import _export, _format
from ._common import CONTEXT_SETTINGS, Options, connected, database_option, json_option, reported_errors


@click.group(context_settings=CONTEXT_SETTINGS)
@database_option
@json_option
@click.version_option(__version__, "-V", "--version", prog_name="brainstorm")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Read the users, snapshots and results saved in the brainstorm database.

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
    """Show a user's details (birthday in UTC)."""
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
    """List a user's snapshots, oldest first (datetimes in UTC)."""
    with connected(options.database) as driver:
        _user(driver, user_id)
        found = driver.get_snapshots(user_id)
    if options.json:
        _format.echo_json(found)
    else:
        click.echo(_format.table(["SNAPSHOT_ID", "DATETIME (UTC)"], [(s["snapshot_id"], s["datetime"]) for s in found]))


@main.command(context_settings=CONTEXT_SETTINGS)
@click.argument("user_id", type=int)
@click.argument("snapshot_id", type=int)
@database_option
@json_option
@click.pass_obj
def snapshot(options: Options, user_id: int, snapshot_id: int) -> None:
    """Show a snapshot: its datetime (UTC) and the results it holds."""
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
        fields, payloads = _result_fields(found)
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


def _result_fields(found: Result) -> tuple[dict[str, Any], dict[str, Any]]:
    """The result's fields with null where each payload sits, and each payload's description by dotted path.

    Fields beside a payload nested below the top level are only reachable by decoding that value, so
    such a (rare) result has its nested payloads fetched once here.
    """
    payloads = {path: {k: v for k, v in info.items() if k != "path"} for path, info in found.blobs.items()}
    fields: dict[str, Any] = {}
    for name in found:
        if name in payloads:
            fields[name] = None
        elif any(path.startswith(f"{name}.") for path in payloads):
            fields[name] = _blank_payloads(found[name], name, payloads)
        else:
            fields[name] = found[name]
    return fields, payloads


def _blank_payloads(value: Any, prefix: str, payloads: dict[str, Any]) -> Any:
    if prefix in payloads:
        return None
    if isinstance(value, dict):
        return {k: _blank_payloads(v, f"{prefix}.{k}", payloads) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank_payloads(v, f"{prefix}.{i}", payloads) for i, v in enumerate(value)]
    return value


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
                **{k: v for k, v in exported.info.items() if k != "path"},
            }
        )
        return
    where = "standard output" if exported.path == "-" else exported.path
    message = f"wrote {exported.key} to {where} ({exported.info['content_type']}, {exported.written:,} bytes)"
    click.echo(message, err=exported.path == "-")
