"""`python -m bench [--quick] [--only WORKLOAD[,WORKLOAD]] [--out DIR]`: run the benchmarks of issue 4.

Prints one table, the targets' verdicts, and writes `results.json`, `throughput.png` and a
`BENCHMARKS.md` (at the repository's root for a full run, else beside the JSON). The MongoDB
server is `BRAINSTORM_BENCH_MONGODB_URL`, else a FerretDB test server started here.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tools.ferretdb_server import running_ferretdb

from . import bigblob, report, serving, workloads
from .context import Context

ROOT = Path(__file__).resolve().parent.parent
SERVER_ENV = "BRAINSTORM_BENCH_MONGODB_URL"
WORKLOADS: dict[str, Callable[[Context], None]] = {
    "save": workloads.save,
    "metadata": workloads.metadata,
    "blobs": workloads.blobs,
    "growth": workloads.growth,
    "size": bigblob.run,
    "serve": serving.run,
}
STANDING_NOTES = [
    "Raw pymongo, inline and file baselines are handed each payload's stored bytes ready-made (the .npy "
    "bytes of an array, the PNG/JPEG bytes, or the same file opened); the driver encodes arrays and hashes "
    "every payload (sha256) itself, inside its timing.",
    "Payloads within the driver's default inline limit (64 KiB on mongodb, 4 KiB on sqlite) stay inside "
    "the driver's result record, so on mongodb at 64 KiB the driver reads and writes no GridFS file while raw "
    "pymongo does.",
    "The plain-file baseline writes without fsync; SQLite in WAL mode with synchronous=NORMAL (the "
    "driver's setting, and the raw sqlite3 baseline's) syncs only at checkpoints.",
    "Big blob on sqlite: no raw sqlite3 baseline, since one BLOB value cannot exceed SQLite's "
    "SQLITE_MAX_LENGTH (1,000,000,000 bytes) < 1 GiB; the plain file copy is the baseline.",
]


@contextlib.contextmanager
def server(wanted: bool) -> Iterator[str | None]:
    if not wanted:
        yield None
    elif url := os.environ.get(SERVER_ENV):
        yield url
    else:
        with running_ferretdb() as url:
            yield url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: smaller sizes, fewer repetitions (< 2 min)")
    parser.add_argument("--only", default="", help=f"comma-separated workloads among {', '.join(WORKLOADS)}")
    parser.add_argument("--out", type=Path, help="where results.json, throughput.png (and a partial BENCHMARKS.md) go")
    parser.add_argument("--no-mongodb", action="store_true", help="embedded driver only (no server)")
    args = parser.parse_args(argv)
    chosen = [w.strip() for w in args.only.split(",") if w.strip()] or list(WORKLOADS)
    unknown = set(chosen) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workload(s) {sorted(unknown)}; choose among {', '.join(WORKLOADS)}")
    full = not args.quick and chosen == list(WORKLOADS) and not args.no_mongodb
    out = args.out or (ROOT / "bench" / "results" / ("" if full else ("quick" if args.quick else "partial")))
    out.mkdir(parents=True, exist_ok=True)
    markdown_path = ROOT / "BENCHMARKS.md" if full and args.out is None else out / "BENCHMARKS.md"
    command = "python -m bench" + "".join(f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:]))

    started, clock = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="brainstorm-bench-") as tmp, server(not args.no_mongodb) as url:
        ctx = Context(quick=args.quick, tmp=Path(tmp), server_url=url)
        ctx.notes += STANDING_NOTES
        if url:
            cap = max(workloads.growth_sizes(ctx)[1])
            ctx.notes.append(
                f"Growth on mongodb stops at {cap:,} snapshots: FerretDB (SQLite backend) decodes every document "
                "of the collection for any filter not on _id, so each driver save costs O(n) on the server (2,000 "
                "saves took 377 s here). The growth databases are filled with insert_many of copies of a "
                "driver-written snapshot document (the last snapshot of each is saved by the driver); the "
                "embedded driver's growth database is filled by driver saves only."
            )
        machine = report.machine(url)
        print(
            f"brainstorm benchmarks: {', '.join(chosen)}{' (quick)' if args.quick else ''}; "
            f"server: {machine.get('server', 'none')}",
            flush=True,
        )
        for name in chosen:
            began = time.perf_counter()
            print(f"[{name}]", flush=True)
            WORKLOADS[name](ctx)
            print(f"[{name}] {time.perf_counter() - began:.0f} s", flush=True)
        if url:
            unserved = ctx.recorder.unserved()
            ctx.extra["mongodb_queries_checked"] = len(ctx.recorder.queries)
            ctx.extra["mongodb_unserved_queries"] = sorted({str(q) for q in unserved})
        if ctx._client is not None:
            ctx._client.close()
    duration = time.perf_counter() - clock
    targets = report.evaluate(ctx.rows, ctx.extra, args.quick)
    doc = {
        "command": command,
        "started": started,
        "duration_s": duration,
        "quick": args.quick,
        "workloads": chosen,
        "machine": machine,
        "targets": targets,
        "rows": ctx.rows,
        "extra": ctx.extra,
        "notes": ctx.notes,
        "failures": ctx.failures,
    }
    report.write_json(doc, out / "results.json")
    report.plot(ctx.rows, out / "throughput.png")
    plot_link = os.path.relpath(out / "throughput.png", markdown_path.parent)
    markdown_path.write_text(report.markdown(doc, plot_link))

    print()
    print(report.text_table(ctx.rows))
    print()
    for verdict in targets:
        print("  " + " | ".join(report.verdict_cells(verdict)))
    for plan in ctx.extra.get("explain_query_plan", []):
        print(f"\nEXPLAIN QUERY PLAN  [{plan['call']}] {plan['sql']}")
        for line in plan["plan"]:
            print(f"    {line}")
    print(f"\n{duration:.0f} s; wrote {out / 'results.json'}, {out / 'throughput.png'}, {markdown_path}")
    for failure in ctx.failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if ctx.failures else 0


if __name__ == "__main__":
    sys.exit(main())
