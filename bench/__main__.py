"""`python -m bench [--quick] [--only WORKLOAD[,WORKLOAD]] [--no-mongodb]`: run the benchmarks.

Prints one table and the targets' verdicts, and writes BENCHMARKS.md and its plot (a full run: at the
repository's root and in bench/results/; otherwise in bench/results/quick or partial, not committed).
The MongoDB server is `BRAINSTORM_BENCH_MONGODB_URL`, else the test server (FerretDB v2 on PostgreSQL
with DocumentDB) started here.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tools import ferretdb_server

from . import bigblob, chunks, importing, queueing, report, serving, workloads
from .context import Context

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS: dict[str, Callable[[Context], None]] = {
    "save": workloads.save,
    "metadata": workloads.metadata,
    "blobs": workloads.blobs,
    "growth": workloads.growth,
    "size": bigblob.run,
    "serve": serving.run,
    "chunks": chunks.run,
    "import": importing.run,
    "queue": queueing.run,
}
STANDING_NOTES = [
    "Raw pymongo, inline and file baselines are handed each payload's stored bytes ready-made (the .npy "
    "bytes of an array, the PNG/JPEG bytes, or the same file opened); the driver encodes arrays and hashes "
    "every payload (sha256) itself, inside its timing.",
    "Payloads within the driver's default inline limit (64 KiB on mongodb, 4 KiB on sqlite) stay inside the "
    "driver's result record, so on mongodb at 64 KiB the driver reads and writes no GridFS file while raw "
    "pymongo does.",
    "The plain-file baseline writes without fsync; SQLite in WAL mode with synchronous=NORMAL (the driver's "
    "setting, and the raw sqlite3 baseline's) syncs only at checkpoints.",
    "Big blob on sqlite: no raw sqlite3 baseline, since one BLOB value cannot exceed SQLite's SQLITE_MAX_LENGTH "
    "(1,000,000,000 bytes) < 1 GiB; the plain file copy is the baseline.",
]


@contextlib.contextmanager
def server() -> Iterator[str]:
    if url := os.environ.get("BRAINSTORM_BENCH_MONGODB_URL"):
        yield url
    else:
        with ferretdb_server.running_ferretdb() as url:
            yield url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: smaller sizes, fewer repetitions")
    parser.add_argument("--only", default="", help=f"comma-separated workloads among {', '.join(WORKLOADS)}")
    parser.add_argument("--no-mongodb", action="store_true", help="the embedded driver only (no server)")
    args = parser.parse_args(argv)
    chosen = [w.strip() for w in args.only.split(",") if w.strip()] or list(WORKLOADS)
    if unknown := set(chosen) - set(WORKLOADS):
        parser.error(f"unknown workload(s) {sorted(unknown)}; choose among {', '.join(WORKLOADS)}")
    full = not args.quick and chosen == list(WORKLOADS) and not args.no_mongodb
    out = ROOT / "bench" / "results" / ("" if full else "quick" if args.quick else "partial")
    out.mkdir(parents=True, exist_ok=True)
    markdown_path = ROOT / "BENCHMARKS.md" if full else out / "BENCHMARKS.md"
    command = "python -m bench" + "".join(f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:]))

    started, clock = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), time.perf_counter()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="brainstorm-bench-")))
        url = None if args.no_mongodb else stack.enter_context(server())
        ctx = Context(quick=args.quick, tmp=tmp, server_url=url)
        stack.callback(ctx.close)
        ctx.notes += STANDING_NOTES
        machine = report.machine(url)
        if url:
            ctx.server_version = report.server_version(url)
        print(f"brainstorm benchmarks: {', '.join(chosen)}{' (quick)' * args.quick}; server: {machine.get('server')}")
        for name in chosen:
            began = time.perf_counter()
            print(f"[{name}]", flush=True)
            WORKLOADS[name](ctx)
            print(f"[{name}] {time.perf_counter() - began:.0f} s", flush=True)
        if url:
            ctx.extra["mongodb_queries_checked"] = len(ctx.recorder.queries)
            ctx.extra["mongodb_unserved_queries"] = sorted({str(q) for q in ctx.recorder.unserved()})
    duration = time.perf_counter() - clock
    targets = report.evaluate(ctx.rows, ctx.extra, args.quick)
    doc = {
        **{"command": command, "started": started, "duration_s": duration, "quick": args.quick},
        **{"machine": machine, "targets": targets, "rows": ctx.rows, "extra": ctx.extra},
        **{"notes": ctx.notes, "failures": ctx.failures},
    }
    (out / "results.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")  # not committed
    report.plot(ctx.rows, out / "throughput.png")
    markdown_path.write_text(report.markdown(doc, os.path.relpath(out / "throughput.png", markdown_path.parent)))

    print(f"\n{report.text_table(ctx.rows)}\n")
    for verdict in targets:
        print("  " + " | ".join(report.verdict_cells(verdict)))
    print(f"\n{duration:.0f} s; wrote {markdown_path} and {out / 'throughput.png'} (results.json beside it)")
    for failure in ctx.failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if ctx.failures else 0


if __name__ == "__main__":
    sys.exit(main())
