"""`python -m brainstorm.saver`: save one parser message, import a directory of them, or consume a queue.

    python -m brainstorm.saver save [-d URL] [--allow-path DIR]... [RESULT_NAME] PATH   # PATH may be - (stdin)
    python -m brainstorm.saver import [-d URL] [--allow-path DIR]... [--jobs N] DIRECTORY
    python -m brainstorm.saver run [-d URL] [--allow-path DIR]... [--jobs N] MQ_URL
    python -m brainstorm.saver run-saver DATABASE_URL MQ_URL          # the original pipeline's form
    python -m brainstorm.saver publish MQ_URL DIRECTORY

The files a message names by "path" must be regular files in the message file's directory (the
current directory for standard input), or below it, or in a directory given with --allow-path.

Exit status: 0 when everything was saved, 1 when something failed (each failure is named on stderr),
2 for a usage error, 130 when stopped by Ctrl-C (only complete results are left saved).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

import brainstorm.mq_drivers as mq_drivers
from brainstorm.console import CONTEXT_SETTINGS, Options, database_option, reported_errors
from brainstorm.database_drivers import redact
from brainstorm.mq_drivers import DEFAULT_TOPOLOGY, Topology

from ._consumer import MAX_ATTEMPTS, RETRY_SECONDS, SavePolicy, consume
from ._display import Display, stopped_by_signals
from ._importer import import_directory
from ._interrupt import Interrupts
from ._publisher import MAX_MESSAGE_BYTES, publish_directory
from ._saver import Saver

INTERRUPTED = 130
F = TypeVar("F", bound=Callable[..., Any])

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
@click.argument("words", nargs=-1, required=True, metavar="[RESULT_NAME] PATH")
@allow_path_option
@database_option
@click.pass_context
def save(ctx: click.Context, words: tuple[str, ...], allowed_dirs: tuple[Path, ...]) -> None:
    """Save one message (a JSON file, or - for standard input): its one result, which RESULT_NAME, if
    given, must name.

    Files the message names by "path" are resolved against the message file's directory (the
    current directory for standard input), must be regular files there (or below it, or in an
    --allow-path DIR), and are stored in the database.
    """
    if len(words) > 2:
        raise click.UsageError(f"got {len(words)} arguments: give PATH, or RESULT_NAME and PATH", ctx)
    result_name = words[0] if len(words) == 2 else None
    path = str(click.Path(exists=True, dir_okay=False, allow_dash=True).convert(words[-1], None, ctx))
    options = ctx.ensure_object(Options)
    name = "<stdin>" if path == "-" else path
    interrupts = Interrupts()
    try:
        with interrupts.deferred(), reported_errors(), Saver(options.database) as saver, reported_errors(f"{name}: "):
            data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
            base_dir = Path.cwd() if path == "-" else Path(path).parent
            if result_name is None:
                saved = saver.save_message(data, base_dir=base_dir, allowed_dirs=allowed_dirs)
            else:
                saved = saver.save(result_name, data, base_dir=base_dir, allowed_dirs=allowed_dirs)
    except KeyboardInterrupt:
        click.echo(f"interrupted: abandoned {name}; saving it again completes it", err=True)
        sys.exit(INTERRUPTED)
    click.echo(f"saved {saved.result_name} of user {saved.user_id}, snapshot {saved.snapshot_id} ({saved.status})")
    if interrupts.requested:
        sys.exit(INTERRUPTED)


jobs_option = click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Save with N threads, each with its own database connection; 0 means one per CPU.",
)


@main.command("import", context_settings=CONTEXT_SETTINGS, short_help="Save every *.json message below a directory.")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show the progress bar on stderr.")
@jobs_option
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


topology_options = [
    click.option(
        "--exchange", default=DEFAULT_TOPOLOGY.exchange, show_default=True, help="The exchange parsers publish to."
    ),
    click.option(
        "--exchange-type",
        type=click.Choice(["topic", "direct", "fanout"]),
        default=DEFAULT_TOPOLOGY.exchange_type,
        show_default=True,
        help="Its type (declared durable).",
    ),
    click.option(
        "--queue",
        default=DEFAULT_TOPOLOGY.queue,
        show_default=True,
        help="The saver's queue; QUEUE.dead holds the dead letters.",
    ),
    click.option(
        "--binding-key", default=DEFAULT_TOPOLOGY.binding_key, show_default=True, help="What the queue is bound with."
    ),
]


def with_topology(function: F) -> F:
    for option in reversed(topology_options):
        function = option(function)
    return function


@main.command(context_settings=CONTEXT_SETTINGS, short_help="Save the messages of a queue until stopped.")
@click.argument("mq_url", metavar="MQ_URL")
@jobs_option
@allow_path_option
@with_topology
@click.option(
    "--retry-seconds",
    type=click.FloatRange(min=0),
    default=RETRY_SECONDS,
    show_default=True,
    help="How long one delivery is retried while the database is unavailable, before going back to the queue.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    default=MAX_ATTEMPTS,
    show_default=True,
    help="Deliveries a message may fail on transiently before it is dead-lettered.",
)
@database_option
@click.pass_obj
def run(options: Options, /, mq_url: str, jobs: int, allowed_dirs: tuple[Path, ...], **settings: Any) -> None:
    """Consume MQ_URL (rabbitmq://host:port/ or amqp://user:pass@host:port/vhost) and save every message,
    acking each once it is saved, until SIGTERM or Ctrl-C (a second Ctrl-C abandons the messages in
    flight: they are delivered again). Payload files must be in the current directory (or below it) or in
    an --allow-path DIR. A message that can never be saved goes to the dead-letter queue QUEUE.dead.
    """
    _run(options.database, mq_url, jobs, allowed_dirs, **settings)


@main.command("run-saver", context_settings=CONTEXT_SETTINGS, short_help="The original form of run.")
@click.argument("database_url")
@click.argument("mq_url")
@click.pass_context
def run_saver(ctx: click.Context, database_url: str, mq_url: str) -> None:
    """`run -d DATABASE_URL MQ_URL` with the default options, as the original pipeline starts its saver."""
    ctx.ensure_object(Options).database = database_url
    ctx.invoke(run, mq_url=mq_url)  # run's own defaults fill in every other option


def _run(
    database: str | None,
    mq_url: str,
    jobs: int,
    allowed_dirs: tuple[Path, ...],
    *,
    exchange: str,
    exchange_type: str,
    queue: str,
    binding_key: str,
    retry_seconds: float,
    max_attempts: int,
) -> None:
    jobs = jobs or os.cpu_count() or 1
    stop, abandon = threading.Event(), threading.Event()
    display = Display(sys.stderr)
    with reported_errors():  # the queue's URL and names are checked before the database is opened
        source = mq_drivers.connect(mq_url, Topology(exchange, exchange_type, queue, binding_key))
        with source, Saver(database) as saver:
            display.event(
                f"saving {redact(mq_url)} queue {queue!r} into {redact(saver.database_url)} with {jobs} job(s)"
            )
            policy = SavePolicy(Path.cwd(), allowed_dirs, retry_seconds, max_attempts)
            with stopped_by_signals(stop, abandon), display.showing() as stats:
                consume(
                    saver,
                    source,
                    jobs=jobs,
                    policy=policy,
                    stop=stop,
                    abandon=abandon,
                    report=display.event,
                    stats=stats,
                )
    display.final(("abandoned the messages in flight; " if abandon.is_set() else "stopped; ") + stats.line())
    if abandon.is_set():
        sys.exit(INTERRUPTED)


@main.command(context_settings=CONTEXT_SETTINGS, short_help="Publish every *.json message below a directory.")
@click.argument("mq_url", metavar="MQ_URL")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@with_topology
@click.option(
    "--max-message-size",
    "max_bytes",
    type=click.IntRange(min=1),
    default=MAX_MESSAGE_BYTES,
    show_default=True,
    help="Refuse messages larger than this many bytes (the broker's max_message_size).",
)
def publish(mq_url: str, directory: Path, max_bytes: int, **names: str) -> None:
    """Publish every message (*.json) below DIRECTORY to MQ_URL's exchange, each with its result's name as
    routing key, persistent and confirmed. Relative payload paths are made absolute: the saver must be
    allowed to read them (run --allow-path DIR). Fails when no queue takes a message (start the saver
    first: it declares its queue)."""
    topology = Topology(names["exchange"], names["exchange_type"], names["queue"], names["binding_key"])
    with reported_errors(), mq_drivers.connect(mq_url, topology) as target:
        summary = publish_directory(
            target, directory, max_bytes=max_bytes, report=lambda line: click.echo(line, err=True)
        )
    click.echo(summary.line())
    if summary.failed:
        sys.exit(1)


if __name__ == "__main__":
    main(prog_name="python -m brainstorm.saver")
