"""`python -m brainstorm.saver`: save one parser message, or import a directory of them.

    python -m brainstorm.saver save [-d URL] [--allow-path DIR]... RESULT_NAME PATH   # PATH may be - (stdin)
    python -m brainstorm.saver import [-d URL] [--allow-path DIR]... [--jobs N] DIRECTORY

The files a message names by "path" must be regular files in the message file's directory (the
current directory for standard input), or below it, or in a directory given with --allow-path.

Exit status: 0 when everything was saved, 1 when something failed (each failure is named on stderr),
2 for a usage error, 130 when stopped by Ctrl-C (only complete results are left saved).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from brainstorm.console import CONTEXT_SETTINGS, Options, database_option, reported_errors
from brainstorm.database_drivers import redact

from ._importer import import_directory
from ._interrupt import Interrupts
from ._saver import Saver

INTERRUPTED = 130

allow_path_option = click.option(
    "--allow-path",
    "allowed_dirs",
    metavar="DIR",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Also read the files messages name from DIR (and below it); repeatable. By default only the "
    "message file's directory is (the current directory for standard input).",
)


@click.group(context_settings=CONTEXT_SETTINGS)
@database_option
@click.pass_context
def main(ctx: click.Context) -> None:
    """Save the messages a pipeline's parsers publish into the brainstorm database.

    The database is -d/--database URL, else $BRAINSTORM_DATABASE_URL, else the embedded SQLite file
    under $XDG_DATA_HOME/brainstorm/.
    """
    ctx.ensure_object(Options)


@main.command(context_settings=CONTEXT_SETTINGS, short_help="Save one message (a file, or - for stdin).")
@click.argument("result_name")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@allow_path_option
@database_option
@click.pass_obj
def save(options: Options, result_name: str, path: str, allowed_dirs: tuple[Path, ...]) -> None:
    """Save one message (a JSON file, or - for standard input) as RESULT_NAME.

    Files the message names by "path" are resolved against the message file's directory (the
    current directory for standard input), must be regular files there (or below it, or in an
    --allow-path DIR), and are stored in the database.
    """
    name = "<stdin>" if path == "-" else path
    interrupts = Interrupts()
    try:
        with interrupts.deferred(), reported_errors(), Saver(options.database) as saver, reported_errors(f"{name}: "):
            data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
            base_dir = Path.cwd() if path == "-" else Path(path).parent
            saved = saver.save(result_name, data, base_dir=base_dir, allowed_dirs=allowed_dirs)
    except KeyboardInterrupt:
        click.echo(f"interrupted: abandoned {name}; saving it again completes it", err=True)
        sys.exit(INTERRUPTED)
    click.echo(f"saved {saved.result_name} of user {saved.user_id}, snapshot {saved.snapshot_id} ({saved.status})")
    if interrupts.requested:
        sys.exit(INTERRUPTED)


@main.command("import", context_settings=CONTEXT_SETTINGS, short_help="Save every *.json message below a directory.")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show the progress bar on stderr.")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Save with N threads, each with its own database connection; 0 means one per CPU.",
)
@allow_path_option
@database_option
@click.pass_obj
def import_(options: Options, directory: Path, progress: bool, jobs: int, allowed_dirs: tuple[Path, ...]) -> None:
    """Save every message (*.json) below DIRECTORY, each under its one key besides user and datetime.

    The files a message names must be in its own directory (or below it, or in an --allow-path DIR).
    Errors are reported with the file's name and the rest go on; the exit status is 1 if any
    message failed. Importing again saves nothing new. Ctrl-C stops after the current message(s).
    With --jobs N, N threads save at once, each with its own connection; the results of one
    snapshot in different files merge into it, whichever threads save them.
    """
    jobs = jobs or os.cpu_count() or 1
    try:
        with reported_errors(), Saver(options.database) as saver:
            click.echo(f"importing {directory} into {redact(saver.database_url)}", err=True)
            summary = import_directory(saver, directory, progress=progress, allowed_dirs=allowed_dirs, jobs=jobs)
    except KeyboardInterrupt:  # before the import began: nothing was saved
        click.echo("interrupted", err=True)
        sys.exit(INTERRUPTED)
    if summary.abandoned:
        abandoned = ", ".join(map(str, summary.abandoned))
        click.echo(
            f"abandoned {abandoned}; importing again completes {'them' if len(summary.abandoned) > 1 else 'it'}",
            err=True,
        )
    if summary.stopped_by is not None:
        click.echo(f"Error: {summary.stopped_by}", err=True)
    stopped = summary.interrupted or summary.stopped_by is not None
    click.echo(("stopped after " if stopped else "imported ") + summary.line())
    if summary.interrupted:
        sys.exit(INTERRUPTED)
    if summary.failed or summary.stopped_by is not None:
        if summary.failed:
            click.echo(f"{len(summary.failed)} message(s) failed; see the errors above", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main(prog_name="python -m brainstorm.saver")
