"""`brainstorm copy SRC_URL DST_URL`: the whole database into another, with a progress bar and a summary.

The copying itself is `brainstorm.copying.copy_database`; this module shows its progress (results,
bytes, rate) and its report, and gives the exit status: 0 when every result was copied (or was
already there), 1 when one failed or `--verify` found a fault, 130 on Ctrl-C (what was published is
whole: each result is published only once its payloads are written and checked). A user in conflict
(a snapshot in the way at DST_URL) is named on stderr and makes the status 1; the others are copied.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import click
from tqdm import tqdm

from brainstorm.console import CONTEXT_SETTINGS, Options, json_option, reported_errors
from brainstorm.copying import CopyReport, Progress, copy_database
from brainstorm.database_drivers import redact

from . import _format

INTERRUPTED = 130
_BAR_FORMAT = "{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} results [{elapsed}<{remaining}{postfix}]"


@click.command(
    "copy", context_settings=CONTEXT_SETTINGS, short_help="Copy every user, snapshot and result to another database."
)
@click.argument("source_url", metavar="SRC_URL")
@click.argument("destination_url", metavar="DST_URL")
@click.option("--verify", is_flag=True, help="Afterwards, re-read every copied user's payloads at the destination.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show the progress bar on stderr.")
@json_option
@click.pass_obj
def copy(options: Options, source_url: str, destination_url: str, verify: bool, progress: bool) -> None:
    """Copy the users, snapshots, results and payloads of SRC_URL into DST_URL (any two drivers),
    keeping ids and datetimes; payloads are streamed and checked (sha256) before each result is
    published, so every copied result is whole, also while others write to SRC_URL.

    Run again, it copies only what is missing or changed (resumes after Ctrl-C or a kill), and
    stores no payload twice. A snapshot SRC_URL deleted and then saved again under a new id is deleted
    at DST_URL too; any other snapshot in the way (an id held at another datetime) is a conflict: that
    user is not copied (named on stderr, exit status 1), the others are.
    """
    latest = CopyReport()

    def remember(report: CopyReport) -> None:
        nonlocal latest
        latest = report

    click.echo(f"copying {redact(source_url)} to {redact(destination_url)}", err=True)
    try:
        with reported_errors(), _progress_bar(progress, remember) as show:
            report = copy_database(source_url, destination_url, verify=verify, progress=show)
    except KeyboardInterrupt:
        click.echo(f"interrupted after {latest.line()}; copying again completes it", err=True)
        sys.exit(INTERRUPTED)
    for problem in report.conflicts + report.failed + ([] if report.verified is None else report.verified.problems):
        click.echo(f"error: {problem}", err=True)
    if options.json:
        _format.echo_json(report.as_dict())
    else:
        click.echo(report.line())
        if report.verified is not None:
            checked = report.verified
            click.echo(
                f"verified {_format.counted(checked.checked.count, checked.checked.bytes, 'payload')}: "
                f"{checked.missing.count} missing, {checked.corrupt.count} corrupt"
            )
    if not report.ok:
        sys.exit(1)


@contextlib.contextmanager
def _progress_bar(enabled: bool, remember: Progress) -> Iterator[Progress]:
    """The `progress` callback: remembers the latest report and, on a terminal, draws the results done
    of those listed, with the bytes written and their rate."""
    shown = enabled and sys.stderr.isatty()
    with tqdm(file=sys.stderr, disable=not shown, bar_format=_BAR_FORMAT, dynamic_ncols=True, leave=False) as bar:

        def show(report: CopyReport) -> None:
            remember(report)
            if shown:
                bar.total = report.results_total
                bar.update(report.results_done - bar.n)
                rate = report.bytes / max(report.seconds, 1e-9)
                bar.set_postfix_str(f"{tqdm.format_sizeof(report.bytes, 'B')}, {tqdm.format_sizeof(rate, 'B/s')}")

        yield show
