"""Turning rows into the printed table, the targets' verdicts, JSON, BENCHMARKS.md and the plot."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import sys
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
CPU_LIMIT = 1.15
EXTRA_COMMANDS = 2
PEAK_LIMIT = 64 * MiB
GROWTH_LIMIT = 1.5
THROUGHPUT_FLOOR = 0.5

COLUMNS = [
    "workload",
    "db",
    "case",
    "variant",
    "wall/op",
    "CPU/op",
    "MB/s",
    "cmds/op",
    "memory",
    "CPU xref",
    "wall xref",
    "ref",
    "ok",
]


# Formatting ---------------------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.2f} ms"
    return f"{value * 1e6:.0f} µs"


def spread(stats: dict[str, float] | None) -> str:
    """± half the range, relative to the median."""
    if not stats or stats["median"] == 0 or stats.get("n", 1) < 2:
        return ""
    return f" ±{(stats['max'] - stats['min']) / 2 / abs(stats['median']) * 100:.0f}%"


def ratio(stats: dict[str, float] | None) -> str:
    if not stats:
        return "-"
    text = f"{stats['median']:.2f}"
    if stats.get("n", 1) > 1:
        text += f" [{stats['min']:.2f}-{stats['max']:.2f}]"
    return text


def nbytes(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= MiB:
        return f"{value / MiB:.1f} MiB"
    return f"{value / 1024:.0f} KiB"


def memory(row: dict[str, Any]) -> str:
    if row.get("peak_rss_added_bytes") is not None:
        return f"RSS +{nbytes(row['peak_rss_added_bytes'])}"
    peak = row.get("python_peak_bytes")
    if peak is None:
        return "-"
    if row.get("bytes_per_op"):
        return f"{nbytes(peak)} ({peak / row['bytes_per_op']:.1f}x)"
    return nbytes(peak)


def table_cells(row: dict[str, Any]) -> list[str]:
    if row.get("variant") == "(failed)":
        failed = f"{row['failed_variant']} (FAILED)" if row.get("failed_variant") else "(FAILED)"
        error = row.get("error", "")[:40] + "... (see notes)"
        return [row["workload"], row["db"], row["case"], failed, error] + [""] * 7 + ["NO"]
    cmds = row.get("cmds_per_op")
    mbs = row.get("mb_per_s_wall")
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
        row.get("reference", "") if row.get("reference") != row["variant"] else "(ref)",
        "yes" if row.get("verified") else "NO",
    ]


def text_table(rows: list[dict[str, Any]]) -> str:
    cells = [COLUMNS] + [table_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(COLUMNS))).rstrip() for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    def escape(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


# Targets ------------------------------------------------------------------------------------------


def _rows(rows: list[dict[str, Any]], **where: Any) -> list[dict[str, Any]]:
    def matches(row: dict[str, Any]) -> bool:
        for key, wanted in where.items():
            value = row.get(key)
            if isinstance(wanted, tuple | list | set):
                if value not in wanted:
                    return False
            elif value != wanted:
                return False
        return row.get("variant") != "(failed)"

    return [r for r in rows if matches(r)]


def _verdict(target: str, scope: str, measured: str, limit: str, met: bool | None, detail: str = "") -> dict[str, Any]:
    return {"target": target, "scope": scope, "measured": measured, "limit": limit, "met": met, "detail": detail}


def evaluate(rows: list[dict[str, Any]], extra: dict[str, Any], quick: bool) -> list[dict[str, Any]]:
    verdicts: list[dict[str, Any]] = []

    # Every variant reads back what it wrote: a case or a step that failed is a miss, whatever its figures.
    for row in rows:
        if row.get("variant") == "(failed)":
            who = row.get("failed_variant", "a variant")
            baseline = who not in ("a variant", "brainstorm")  # a baseline the server could not serve
            verdicts.append(
                _verdict(
                    "every variant runs and reads back what it wrote",
                    f"{row['workload']} / {row['db']} / {row['case']} / {who}",
                    "baseline failed (see notes)" if baseline else "failed",
                    "reads back",
                    None if baseline else False,
                    row.get("error", ""),
                )
            )

    # mongodb: client CPU of save and whole reads, at most 1.15x raw pymongo.
    for row in _rows(
        rows, db="mongodb", variant="brainstorm", workload=("save", "blob save", "blob read whole", "size write")
    ):
        r = row.get("ratio_cpu")
        verdicts.append(
            _verdict(
                "mongodb CPU ≤ 1.15x raw pymongo (save, whole read)",
                f"{row['workload']} / {row['case']}",
                ratio(r) + _less_digest(row, ratio(row.get("ratio_cpu_less_included"))),
                f"≤ {CPU_LIMIT}",
                None if not r else r["median"] <= CPU_LIMIT,
            )
        )
    # mongodb: commands per saved result at most raw pymongo's + 2.
    for row in _rows(rows, db="mongodb", variant="brainstorm", workload=("save", "blob save")):
        raw = _rows(rows, db="mongodb", variant="raw pymongo", workload=row["workload"], case=row["case"])
        if not raw:
            continue
        per = row.get("results_per_op", 1)
        mine, theirs = row["cmds_per_op"]["median"] / per, raw[0]["cmds_per_op"]["median"] / per
        verdicts.append(
            _verdict(
                "mongodb commands per saved result ≤ raw pymongo's + 2",
                f"{row['workload']} / {row['case']}",
                f"{mine:.2f} vs {theirs:.2f}",
                f"≤ {theirs + EXTRA_COMMANDS:.2f}",
                mine <= theirs + EXTRA_COMMANDS,
                f"by command, per op: {row['cmds_by_name']}",
            )
        )
    # mongodb: get_result without a blob touch is exactly one command.
    for row in _rows(rows, db="mongodb", workload=("metadata", "growth")):
        if not row["case"].startswith("get_result") or row["variant"] == "raw pymongo":
            continue
        cmds = row["cmds_per_op"]
        verdicts.append(
            _verdict(
                "mongodb get_result (no blob) = exactly 1 command",
                f"{row['workload']} / {row['case']} / {row['variant']}",
                f"{cmds['min']:g}-{cmds['max']:g}",
                "= 1",
                cmds["min"] == cmds["max"] == 1,
            )
        )
    # Streaming: client CPU at most 1.15x raw GridOut reads.
    for row in _rows(rows, db="mongodb", variant="brainstorm", workload=("blob read stream", "size read")):
        r = row.get("ratio_cpu")
        if row.get("reference") != "raw pymongo":  # GridOut failed on this server: another baseline
            verdicts.append(
                _verdict(
                    "mongodb streaming CPU ≤ 1.15x raw GridOut reads",
                    f"{row['workload']} / {row['case']}",
                    f"{ratio(r)} vs {row.get('reference')}",
                    f"≤ {CPU_LIMIT} vs GridOut",
                    None,
                    "GridOut could not read it back from this server; not the target's baseline",
                )
            )
            continue
        verdicts.append(
            _verdict(
                "mongodb streaming CPU ≤ 1.15x raw GridOut reads",
                f"{row['workload']} / {row['case']}",
                ratio(r) + _less_digest(row, ratio(row.get("ratio_cpu_less_included"))),
                f"≤ {CPU_LIMIT}",
                None if not r else r["median"] <= CPU_LIMIT,
            )
        )
    # Writing or streaming the big blob adds less than 64 MiB to peak memory, on both drivers.
    for row in _rows(rows, variant="brainstorm", workload=("size write", "size read")):
        peak = row["peak_rss_added_bytes"]
        verdicts.append(
            _verdict(
                "big blob adds < 64 MiB to peak RSS",
                f"{row['db']} / {row['workload']} / {row['case']}",
                nbytes(peak),
                "< 64 MiB",
                peak < PEAK_LIMIT,
                "a smaller blob in --quick: run the full benchmark for 1 GiB" if quick else "",
            )
        )
    # Growth on the embedded driver: at most 1.5x from the smallest to the largest size.
    growth = _rows(rows, db="sqlite", workload="growth")
    for call in ("get_snapshot", "get_result"):
        sized = [r for r in growth if r["case"] == call]
        if len(sized) < 2:
            continue
        largest = max(sized, key=lambda r: int(r["variant"].split()[0].replace(",", "")))
        r = largest.get("ratio_wall")
        verdicts.append(
            _verdict(
                "sqlite growth: cost at largest ≤ 1.5x at 1,000",
                f"{call} at {largest['variant']} vs {largest['reference']}",
                f"wall {ratio(r)}, CPU {ratio(largest.get('ratio_cpu'))}",
                f"≤ {GROWTH_LIMIT}",
                None if not r else r["median"] <= GROWTH_LIMIT,
            )
        )
    plans = extra.get("explain_query_plan") or []
    if plans:
        scans = [p for p in plans if not p["indexed"]]
        verdicts.append(
            _verdict(
                "sqlite queries are index-backed (EXPLAIN QUERY PLAN)",
                f"{len(plans)} statements",
                f"{len(plans) - len(scans)} use an index",
                "all",
                not scans,
                "; ".join(p["sql"] for p in scans),
            )
        )
    unserved = extra.get("mongodb_unserved_queries")
    if unserved is not None:
        verdicts.append(
            _verdict(
                "mongodb: every query filter served by a driver/GridFS index",
                f"{extra.get('mongodb_queries_checked', 0)} driver queries in this run",
                f"{len(unserved)} unserved",
                "0",
                not unserved,
                "; ".join(unserved[:5]) + " (also tests/test_query_indexes.py)",
            )
        )
    # Embedded: write and read throughput at least 0.5x the plain file.
    for row in _rows(
        rows,
        db="sqlite",
        variant="brainstorm",
        workload=("save", "blob save", "blob read whole", "blob read stream", "size write", "size read"),
    ):
        r = row.get("ratio_wall")
        if not r:
            continue
        throughput = 1 / r["median"]
        less = row.get("ratio_wall_less_included")
        verdicts.append(
            _verdict(
                "sqlite throughput ≥ 0.5x plain file",
                f"{row['workload']} / {row['case']}",
                f"{throughput:.2f}x" + _less_digest(row, f"{1 / less['median']:.2f}x" if less else ""),
                f"≥ {THROUGHPUT_FLOOR}",
                throughput >= THROUGHPUT_FLOOR,
            )
        )
    return verdicts


def _less_digest(row: dict[str, Any], figure: str) -> str:
    """The figure with the sha256 the contract requires taken out (measured in the same repetitions)."""
    return f"; {figure} less '{row['includes']}'" if row.get("includes") and figure else ""


def verdict_cells(v: dict[str, Any]) -> list[str]:
    met = {True: "met", False: "MISSED", None: "n/a"}[v["met"]]
    return [v["target"], v["scope"], v["measured"], v["limit"], met]


# The machine ----------------------------------------------------------------------------------------


def machine(server_url: str | None) -> dict[str, Any]:
    import numpy
    import pymongo

    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory": _memory(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "pymongo": pymongo.__version__,
        "sqlite": sqlite3.sqlite_version,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }
    if server_url:
        try:
            with pymongo.MongoClient(server_url, serverSelectionTimeoutMS=5000) as client:
                build = client.admin.command("buildInfo")
            ferret = build.get("ferretdb") or build.get("ferretdbVersion")
            info["server"] = (
                f"FerretDB {ferret.get('version', ferret) if isinstance(ferret, dict) else ferret}"
                if ferret
                else f"MongoDB {build.get('version')}"
            )
            info["server_reports"] = build.get("version")
        except Exception as exc:  # the figures still stand; say why the version is missing
            info["server"] = f"unknown ({exc!r})"
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


# Outputs --------------------------------------------------------------------------------------------


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[tuple[str, str, str], list[tuple[int, float, float]]] = {}
    for row in rows:
        if row.get("kind") == "ndarray" or row.get("workload") not in (
            "blob save",
            "blob read whole",
            "blob read stream",
        ):
            continue
        if row.get("variant") == "(failed)" or not row.get("size"):
            continue
        key = (row["db"], row["workload"], row["variant"])
        series.setdefault(key, []).append((row["size"], row["mb_per_s_wall"] or 0, row["mb_per_cpu_s"] or 0))
    panels = [
        ("sqlite", "mb_wall", "embedded (sqlite): throughput, wall clock"),
        ("mongodb", "mb_cpu", "mongodb on FerretDB: bytes per client-CPU second"),
        ("mongodb", "mb_wall", "mongodb on FerretDB: throughput, wall clock (server-bound)"),
    ]
    styles = {"blob save": "-", "blob read whole": "--", "blob read stream": ":"}
    colours = {
        "brainstorm": "tab:blue",
        "raw pymongo": "tab:orange",
        "plain file": "tab:green",
        "raw sqlite3": "tab:red",
        "inline Binary": "tab:purple",
        "file + path": "tab:brown",
    }
    figure, axes = plt.subplots(1, 3, figsize=(18, 5.5))
    for axis, (db, metric, title) in zip(axes, panels, strict=True):
        for (where, workload, variant), points in sorted(series.items()):
            if where != db:
                continue
            points.sort()
            x = [p[0] / MiB for p in points]
            y = [p[1] if metric == "mb_wall" else p[2] for p in points]
            axis.plot(
                x,
                y,
                styles[workload],
                marker="o",
                markersize=3,
                color=colours.get(variant, "black"),
                label=f"{variant}: {workload.removeprefix('blob ')}",
            )
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("payload size (MiB)")
        axis.set_ylabel("MB/s" if metric == "mb_wall" else "MB per client CPU second")
        axis.set_title(title, fontsize=10)
        axis.grid(True, which="both", alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def markdown(doc: dict[str, Any], plot_path: str) -> str:
    m = doc["machine"]
    rows = doc["rows"]
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
        markdown_table(["what", "value"], [[k, str(v)] for k, v in m.items()]),
        "",
        "## How to read the figures",
        "",
        "- Every variant of a case runs in the same process, interleaved repetition by repetition (the order",
        "  rotates), after a warm-up. Figures are per operation: median, and ± half the range over the repetitions.",
        "- **CPU/op** is the client's CPU (user + sys of the benchmark process, `time.process_time()`); the server",
        "  (FerretDB, another process) is not in it. **cmds/op** counts the commands pymongo sent (command",
        "  monitoring). **memory** is the peak of Python-tracked allocations during one operation (tracemalloc),",
        "  with how many payloads' worth that is (1.0x = one copy alive at once); for the big blob it is the",
        "  process's peak RSS (VmHWM, reset before the step) minus its RSS before the step, in a fresh process.",
        "- **CPU xref / wall xref** are ratios to the row marked *(ref)*, computed repetition by repetition from",
        "  the pair run in the same repetition: median [min-max]. Below 1 means cheaper than the reference.",
        "- **sha256 only** is hashlib's sha256 of the same payloads and nothing else: the digest the contract",
        "  stores with every payload and checks on every read through to the end, which no raw baseline",
        "  computes. A save or read target's *less 'sha256 only'*",
        "  figure is the driver's ratio with that variant's cost from the same repetition taken out: what the",
        "  driver costs beyond the digest it must compute. The embedded driver hashes pieces of 1 MiB and more",
        "  on a second thread while it writes them, so there the digest's time is not all added to the save,",
        "  and the figure without it (above 1x, even) overstates the driver: read it only for small payloads.",
        "- Wall-clock time against FerretDB measures FerretDB (SQLite backend: every filter not on `_id` decodes",
        "  the whole collection, a GridFS read decodes the whole chunks collection), so on mongodb the client's",
        "  CPU and commands are the figures that describe the driver.",
        "- Every variant checks that it reads back what it wrote (bytes, arrays, fields); checking and tidying",
        "  are never timed. Saves on the server are removed after each repetition, so every repetition starts",
        "  from the same state.",
        "",
        "## Targets",
        "",
        markdown_table(["target", "scope", "measured", "limit", "verdict"], [verdict_cells(v) for v in doc["targets"]]),
        "",
        "## Figures",
        "",
        markdown_table(COLUMNS, [table_cells(r) for r in rows]),
        "",
        f"![throughput against payload size]({plot_path})",
        "",
    ]
    notes = doc.get("notes") or []
    if notes:
        out += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    plans = doc["extra"].get("explain_query_plan")
    if plans:
        out += [
            "## SQLite query plans (largest growth database)",
            "",
            "The statements the sqlite driver ran (captured with `set_trace_callback`) and their",
            "`EXPLAIN QUERY PLAN`:",
            "",
        ]
        for p in plans:
            out += [f"- `{p['call']}`: `{p['sql']}`", ""] + [f"      {line}" for line in p["plan"]] + [""]
    populate = doc["extra"].get("growth_sqlite_populate")
    if populate:
        out += [
            f"Growth database populated through the driver: {populate['snapshots']:,} saves in "
            f"{populate['seconds']:.1f} s ({populate['saves_per_s']:.0f} saves/s).",
            "",
        ]
    if doc.get("failures"):
        out += ["## Failures", ""] + [f"- {f}" for f in doc["failures"]] + [""]
    return "\n".join(out)


def write_json(doc: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(doc, indent=1, default=str) + "\n")
