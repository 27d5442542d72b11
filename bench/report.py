"""Turning rows into the printed table, the targets' verdicts, BENCHMARKS.md and the plot."""

from __future__ import annotations

import io
import json
import os
import platform
import sqlite3
import sys
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
CPU_LIMIT, EXTRA_COMMANDS, PEAK_LIMIT, GROWTH_LIMIT, THROUGHPUT_FLOOR, API_FLOOR = 1.15, 2, 64 * MiB, 1.5, 0.5, 0.9
QUEUE_LIMIT = 1.10  # the saver on a queue against import, at the same --jobs
COLUMNS = ["workload", "db", "case", "variant", "wall/op", "CPU/op", "MB/s", "cmds/op", "memory"]
COLUMNS += ["CPU xref", "wall xref", "ref", "ok"]


# Formatting ---------------------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} s" if value >= 1 else f"{value * 1e3:.2f} ms" if value >= 1e-3 else f"{value * 1e6:.0f} µs"


def spread(stats: dict[str, float]) -> str:
    """± half the range, relative to the median."""
    if stats["median"] == 0 or stats["n"] < 2:
        return ""
    return f" ±{(stats['max'] - stats['min']) / 2 / abs(stats['median']) * 100:.0f}%"


def ratio(stats: dict[str, float] | None) -> str:
    if not stats:
        return "-"
    return f"{stats['median']:.2f}" + (f" [{stats['min']:.2f}-{stats['max']:.2f}]" if stats["n"] > 1 else "")


def nbytes(value: float) -> str:
    return f"{value / MiB:.1f} MiB" if abs(value) >= MiB else f"{value / 1024:.0f} KiB"


def memory(row: dict[str, Any]) -> str:
    if row.get("peak_rss_added_bytes") is not None:
        return f"RSS +{nbytes(row['peak_rss_added_bytes'])}"
    if (peak := row.get("python_peak_bytes")) is None:
        return "-"
    return f"{nbytes(peak)} ({peak / row['bytes_per_op']:.1f}x)" if row.get("bytes_per_op") else nbytes(peak)


def table_cells(row: dict[str, Any]) -> list[str]:
    if row["variant"] == "(failed)":
        failed = f"{row['failed_variant']} (FAILED)" if row.get("failed_variant") else "(FAILED)"
        return (
            [row["workload"], row["db"], row["case"], failed, row["error"][:40] + "... (see notes)"] + [""] * 7 + ["NO"]
        )
    cmds, mbs = row.get("cmds_per_op"), row.get("mb_per_s_wall")
    return [
        row["workload"],
        row["db"],
        row["case"],
        row["variant"],
        seconds(row["wall_s"]["median"]) + spread(row["wall_s"]),
        seconds(row["cpu_s"]["median"]) + spread(row["cpu_s"]),
        f"{mbs:.0f}" if mbs else "-",
        f"{cmds['median']:.2f}".rstrip("0").rstrip(".") if cmds and row["db"] == "mongodb" else "-",
        memory(row),
        ratio(row.get("ratio_cpu")),
        ratio(row.get("ratio_wall")),
        "(ref)" if row["reference"] == row["variant"] else row["reference"],
        "yes" if row["verified"] else "NO",
    ]


def text_table(rows: list[dict[str, Any]]) -> str:
    cells = [COLUMNS] + [table_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(COLUMNS))).rstrip() for c in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body])


# Targets ------------------------------------------------------------------------------------------


def _less_digest(row: dict[str, Any], figure: str) -> str:
    """The figure with the sha256 the contract requires taken out (measured in the same repetitions)."""
    return f"; {figure} less '{row['includes']}'" if row.get("includes") and figure else ""


def evaluate(rows: list[dict[str, Any]], extra: dict[str, Any], quick: bool) -> list[dict[str, Any]]:
    verdicts: list[dict[str, Any]] = []

    def add(target: str, scope: str, measured: str, limit: str, met: bool | None, detail: str = "") -> None:
        verdicts.append({"target": target, "scope": scope, "measured": measured, "limit": limit, "met": met})
        verdicts[-1]["detail"] = detail

    ok = [r for r in rows if r["variant"] != "(failed)"]
    mine = [r for r in ok if r["variant"] == "brainstorm"]
    for row in rows:  # every variant reads back what it wrote: a failed case or step is a miss
        if row["variant"] == "(failed)":
            who = row.get("failed_variant", "a variant")
            baseline = who not in ("a variant", "brainstorm")  # a baseline the server could not serve
            scope = f"{row['workload']} / {row['db']} / {row['case']} / {who}"
            measured, met = ("baseline failed (see notes)", None) if baseline else ("failed", False)
            add("every variant runs and reads back what it wrote", scope, measured, "reads back", met, row["error"])
    for target, workloads in [
        ("mongodb CPU ≤ 1.15x raw pymongo (save, whole read)", ("save", "blob save", "blob read whole", "size write")),
        ("mongodb streaming CPU ≤ 1.15x raw GridOut reads", ("blob read stream", "size read")),
    ]:
        for row in (r for r in mine if r["db"] == "mongodb" and r["workload"] in workloads):
            r, scope = row.get("ratio_cpu"), f"{row['workload']} / {row['case']}"
            if row["reference"] != "raw pymongo":  # GridOut failed on this server: another baseline
                why = "GridOut could not read it back from this server; not the target's baseline"
                add(target, scope, f"{ratio(r)} vs {row['reference']}", f"≤ {CPU_LIMIT} vs GridOut", None, why)
                continue
            measured = ratio(r) + _less_digest(row, ratio(row.get("ratio_cpu_less_included")))
            add(target, scope, measured, f"≤ {CPU_LIMIT}", None if not r else r["median"] <= CPU_LIMIT)
    for row in (r for r in mine if r["db"] == "mongodb" and r["workload"] in ("save", "blob save")):
        same = (row["db"], row["workload"], row["case"], "raw pymongo")
        for raw in (r for r in ok if (r["db"], r["workload"], r["case"], r["variant"]) == same):
            per = row.get("results_per_op", 1)
            ours, theirs = row["cmds_per_op"]["median"] / per, raw["cmds_per_op"]["median"] / per
            target, scope = (
                "mongodb commands per saved result ≤ raw pymongo's + 2",
                f"{row['workload']} / {row['case']}",
            )
            detail = f"by command, per op: {row['cmds_by_name']}"
            limit, met = f"≤ {theirs + EXTRA_COMMANDS:.2f}", ours <= theirs + EXTRA_COMMANDS
            add(target, scope, f"{ours:.2f} vs {theirs:.2f}", limit, met, detail)
    for row in (r for r in ok if r["db"] == "mongodb" and r["workload"] in ("metadata", "growth")):
        if row["case"].startswith("get_result") and row["variant"] != "raw pymongo":
            c, scope = row["cmds_per_op"], f"{row['workload']} / {row['case']} / {row['variant']}"
            target, one = "mongodb get_result (no blob) = exactly 1 command", c["min"] == c["max"] == 1
            add(target, scope, f"{c['min']:g}-{c['max']:g}", "= 1", one)
    for row in (r for r in mine if r["workload"] in ("size write", "size read")):
        scope, peak = f"{row['db']} / {row['workload']} / {row['case']}", row["peak_rss_added_bytes"]
        note = "a smaller blob in --quick: run the full benchmark for 1 GiB" if quick else ""
        add("big blob adds < 64 MiB to peak RSS", scope, nbytes(peak), "< 64 MiB", peak < PEAK_LIMIT, note)
    for row in (r for r in ok if r["workload"] == "queue" and r["variant"].startswith("run")):
        r, scope = row.get("ratio_wall"), f"queue / {row['db']} / {row['variant']} vs {row['reference']}"
        met = None if not r else r["median"] <= QUEUE_LIMIT
        target = "the queue costs ≤ 10% over import at the same --jobs"
        add(target, scope, f"wall {ratio(r)}", f"≤ {QUEUE_LIMIT}", met)
    for db in ("sqlite", "mongodb"):
        for call in ("get_snapshot", "get_result"):
            sized = [r for r in ok if (r["workload"], r["db"], r["case"]) == ("growth", db, call)]
            if len(sized) >= 2:
                row = max(sized, key=lambda r: int(r["variant"].split()[0].replace(",", "")))
                r, scope = row.get("ratio_wall"), f"{call} at {row['variant']} vs {row['reference']}"
                measured = f"wall {ratio(r)}, CPU {ratio(row.get('ratio_cpu'))}"
                met, target = (
                    None if not r else r["median"] <= GROWTH_LIMIT,
                    f"{db} growth: cost at largest ≤ 1.5x at 1,000",
                )
                add(target, scope, measured, f"≤ {GROWTH_LIMIT}", met, row.get("server", ""))
    if (over := (extra.get("serve_mongodb_api_throughput_over") or {}).get("GridFSBucket")) is not None:
        target, scope = "mongodb API download ≥ 0.9x a plain GridFSBucket read", "serve / mongodb / download"
        add(target, scope, f"{ratio(over)}x", f"≥ {API_FLOOR}", over["median"] >= API_FLOOR)
    if chunks := extra.get("serve_mongodb_range_chunks"):
        extra_chunks = max(
            f - c
            for reads in ("4 x 256 KiB", "1 x 1 MiB")
            for f, c in zip(chunks[reads], chunks["covering"], strict=True)
        )
        target, scope = "mongodb 1 MiB range fetches ≤ its covering chunks + 1", "serve / mongodb / range reads"
        add(target, scope, f"{extra_chunks:+d} chunks at most", "≤ +1", extra_chunks <= 1)
    if plans := extra.get("explain_query_plan"):
        scans = [p["sql"] for p in plans if not p["indexed"]]
        target, used = "sqlite queries are index-backed (EXPLAIN QUERY PLAN)", f"{len(plans) - len(scans)} use an index"
        add(target, f"{len(plans)} statements", used, "all", not scans, "; ".join(scans))
    if (unserved := extra.get("mongodb_unserved_queries")) is not None:
        scope = f"{extra.get('mongodb_queries_checked', 0)} driver queries in this run"
        detail = "; ".join(unserved[:5]) + " (also tests/test_query_indexes.py)"
        target = "mongodb: every query filter served by a driver/GridFS index"
        add(target, scope, f"{len(unserved)} unserved", "0", not unserved, detail)
    throughput = ("save", "blob save", "blob read whole", "blob read stream", "size write", "size read")
    for row in (r for r in mine if r["db"] == "sqlite" and r["workload"] in throughput and r.get("ratio_wall")):
        less, times = row.get("ratio_wall_less_included"), 1 / row["ratio_wall"]["median"]
        measured = f"{times:.2f}x" + _less_digest(row, f"{1 / less['median']:.2f}x" if less else "")
        target, scope = "sqlite throughput ≥ 0.5x plain file", f"{row['workload']} / {row['case']}"
        add(target, scope, measured, f"≥ {THROUGHPUT_FLOOR}", times >= THROUGHPUT_FLOOR)
    return verdicts


def verdict_cells(v: dict[str, Any]) -> list[str]:
    return [v["target"], v["scope"], v["measured"], v["limit"], {True: "met", False: "MISSED", None: "n/a"}[v["met"]]]


# The machine ----------------------------------------------------------------------------------------


def machine(server_url: str | None) -> dict[str, Any]:
    import numpy
    import pymongo

    def proc(path: str, key: str) -> str:
        try:
            return next(
                line.split(":", 1)[1].strip() for line in Path(path).read_text().splitlines() if line.startswith(key)
            )
        except (OSError, StopIteration):
            return "unknown"

    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu": proc("/proc/cpuinfo", "model name"),
        "memory": proc("/proc/meminfo", "MemTotal:"),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "pymongo": pymongo.__version__,
        "sqlite": sqlite3.sqlite_version,
    }
    if server_url:
        info["server"] = server_version(server_url)
    return info


def server_version(url: str) -> str:
    import pymongo

    try:
        with pymongo.MongoClient(url, serverSelectionTimeoutMS=5000) as client:
            build = client.admin.command("buildInfo")
    except Exception as exc:  # the figures still stand; say why the version is missing
        return f"unknown ({exc!r})"
    ferret = build.get("ferretdb") or build.get("ferretdbVersion")
    if isinstance(ferret, dict):
        ferret = ferret.get("version", ferret)
    return (
        f"FerretDB {ferret} (reports MongoDB {build.get('version')})" if ferret else f"MongoDB {build.get('version')}"
    )


# Outputs --------------------------------------------------------------------------------------------


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Throughput against payload size (the blobs workload), three panels; a small palette PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    series: dict[tuple[str, str, str], list[tuple[int, float, float]]] = {}
    for row in rows:
        blob = row["workload"] in ("blob save", "blob read whole", "blob read stream") and row.get("kind") != "ndarray"
        if blob and row["variant"] != "(failed)" and row.get("size"):
            point = (row["size"], row["mb_per_s_wall"] or 0, row["mb_per_cpu_s"] or 0)
            series.setdefault((row["db"], row["workload"], row["variant"]), []).append(point)
    panels = [
        ("sqlite", 1, "embedded (sqlite): throughput, wall clock"),
        ("mongodb", 2, "mongodb on FerretDB: bytes per client-CPU second"),
        ("mongodb", 1, "mongodb on FerretDB: throughput, wall clock (server-bound)"),
    ]
    styles = {"blob save": "-", "blob read whole": "--", "blob read stream": ":"}
    variants = ["brainstorm", "raw pymongo", "plain file", "raw sqlite3", "inline Binary", "file + path"]
    colours = dict(
        zip(variants, ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"], strict=True)
    )
    figure, axes = plt.subplots(1, 3, figsize=(16, 5))
    for axis, (db, metric, title) in zip(axes, panels, strict=True):
        for (where, workload, variant), points in sorted(series.items()):
            if where == db:
                points.sort()
                label = f"{variant}: {workload.removeprefix('blob ')}"
                x, y = [p[0] / MiB for p in points], [p[metric] for p in points]
                axis.plot(
                    x, y, styles[workload], marker="o", markersize=3, color=colours.get(variant, "black"), label=label
                )
        axis.set_xscale("log", base=2)
        axis.set(yscale="log", xlabel="payload size (MiB)", ylabel="MB/s" if metric == 1 else "MB per client CPU s")
        axis.set_title(title, fontsize=10)
        axis.grid(True, which="both", alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7)
    figure.tight_layout()
    png = io.BytesIO()
    figure.savefig(png, dpi=80)
    plt.close(figure)
    Image.open(png).convert("RGB").quantize(64).save(path, optimize=True)


HOW_TO_READ = """\
- Every variant of a case runs in the same process, interleaved repetition by repetition (the order
  rotates), after a warm-up. Figures are per operation: median, and ± half the range over the repetitions.
- **CPU/op** is the client's CPU (user + sys of the benchmark process, `time.process_time()`); the server
  (FerretDB, another process) is not in it. **cmds/op** counts the commands pymongo sent (command
  monitoring). **memory** is the peak of Python-tracked allocations during one operation (tracemalloc),
  with how many payloads' worth that is (1.0x = one copy alive at once); for the big blob it is the
  process's peak RSS (VmHWM, reset before the step) minus its RSS before the step, in a fresh process;
  for serve, the server process's peak-RSS growth over the case.
- **CPU xref / wall xref** are ratios to the row marked *(ref)*, computed repetition by repetition from
  the pair run in the same repetition: median [min-max]. Below 1 means cheaper than the reference.
- **sha256 only** is hashlib's sha256 of the same payloads and nothing else: the digest the contract
  stores with every payload and checks on every read through to the end, which no raw baseline
  computes. A save or read target's *less 'sha256 only'* figure is the driver's ratio with that
  variant's cost from the same repetition taken out: what the driver costs beyond the digest it must
  compute. The embedded driver hashes pieces of 1 MiB and more on a second thread while it writes
  them, so there the digest's time is not all added to the save, and the figure without it (above 1x,
  even) overstates the driver: read it only for small payloads.
- Wall-clock time against FerretDB on SQLite measures FerretDB (every filter not on `_id` decodes the
  whole collection, a GridFS read decodes the whole chunks collection), so on mongodb the client's CPU
  and commands are the figures that describe the driver. The mongodb growth runs on FerretDB on
  PostgreSQL where it is available (it pushes simple equality filters down to SQL).
- The baselines keep their own documents, rows and files (raw pymongo: a document per snapshot with a
  GridFS file per payload; raw sqlite3: a row per result with the payload as a BLOB); none reads the
  drivers' layout. Every variant checks that it reads back what it wrote (bytes, arrays, fields);
  checking and tidying are never timed. Saves on the server are removed after each repetition (the
  driver's through `delete_snapshot`), so every repetition starts from the same state.
"""


def chunk_size_section(rows: list[dict[str, Any]]) -> list[str]:
    """The chunk-size workload's figures side by side, and the driver's choice."""
    from brainstorm.database_drivers._gridfs import CHUNK_SIZE

    sized = [r for r in rows if r["workload"] == "chunk size" and r["variant"] != "(failed)"]
    if not sized:
        return []
    body = [
        [
            r["case"],
            r["variant"],
            seconds(r["wall_s"]["median"]) + spread(r["wall_s"]),
            seconds(r["cpu_s"]["median"]),
            f"{r['cmds_per_op']['median']:g}",
            ratio(r.get("ratio_wall")) if r.get("ratio_wall") else "(ref)",
        ]
        for r in sized
    ]
    return [
        "## GridFS chunk size",
        "",
        "The mongodb driver's chunk size, measured three ways on this server (interleaved, ratios to 255 KiB,",
        f"repetition by repetition). The driver writes {CHUNK_SIZE // 1024} KiB chunks (`_gridfs.CHUNK_SIZE`; "
        "`MongodbDriver(chunk_size=...)` to change it); the README says why.",
        "",
        markdown_table(["case", "chunks", "wall/op", "CPU/op", "cmds/op", "wall vs 255 KiB"], body),
        "",
    ]


def markdown(doc: dict[str, Any], plot_path: str) -> str:
    out = [
        "# Benchmarks",
        "",
        "What the database drivers cost, side by side with raw pymongo, the disk, raw sqlite3 and the old way",
        "(payloads as files with their paths in the document). Written by the harness (`bench/`); do not edit by",
        "hand: run it again.",
        "",
        f"Command: `{doc['command']}`  ",
        f"Run: {doc['started']}, {doc['duration_s']:.0f} s in all"
        + (" (--quick: smaller sizes, fewer repetitions)." if doc["quick"] else "."),
        "",
        "## Machine",
        "",
        markdown_table(["what", "value"], [[k, str(v)] for k, v in doc["machine"].items()]),
        "",
        "## How to read the figures",
        "",
        HOW_TO_READ,
        "## Targets",
        "",
        markdown_table(["target", "scope", "measured", "limit", "verdict"], [verdict_cells(v) for v in doc["targets"]]),
        "",
        "## Figures",
        "",
        markdown_table(COLUMNS, [table_cells(r) for r in doc["rows"]]),
        "",
        f"![throughput against payload size]({plot_path})",
        "",
    ]
    out += chunk_size_section(doc["rows"])
    if doc["notes"]:
        out += ["## Notes", "", *(f"- {n}" for n in doc["notes"]), ""]
    if plans := doc["extra"].get("explain_query_plan"):
        out += ["## SQLite query plans (largest growth database)", ""]
        out += [
            "The statements the sqlite driver ran (captured with `set_trace_callback`) and their `EXPLAIN QUERY PLAN`:",
            "",
        ]
        for p in plans:
            out += [f"- `{p['call']}`: `{p['sql']}`", "", *(f"      {line}" for line in p["plan"]), ""]
    if plans := doc["extra"].get("growth_mongodb_explain"):
        out += ["## MongoDB query plans (largest growth database)", ""]
        out += ["The server's `explain` (queryPlanner) of each command the mongodb driver sent:", ""]
        for p in plans:
            out += [f"- `{p['call']}`: `{json.dumps(p['command'], default=str)}`", ""]
            out += [f"      {k}: {v}" for k, v in p["plan"].items()] + [""]
    if doc["failures"]:
        out += ["## Failures", "", *(f"- {f}" for f in doc["failures"]), ""]
    return "\n".join(out)
