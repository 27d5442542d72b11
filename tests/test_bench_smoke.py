"""The benchmark harness (bench/) on tiny inputs: it runs, it reads back what it wrote, it reports.

No timing is asserted: figures on this machine are noise at this size. What is checked is that
every variant verifies its read-back, that a variant reading back something else is caught, and
that the table, the verdicts and BENCHMARKS.md come out of the rows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from bench import importing, report, serving, workloads
from bench.context import Context
from bench.measure import Sample, ratios
from bench.stores import (
    DriverStore,
    MongoStore,
    Payload,
    PlainFileStore,
    RawSqliteStore,
    ResultSpec,
    Spec,
    save_variant,
)

SPEC: Spec = [
    ResultSpec("blob", {"n": 1}, Payload(bytes(range(256)) * 400)),  # 100 KiB: not inline
    ResultSpec("pose", {"x": 1.5}),
]


def _sqlite_case(ctx: Context, spec: Spec, plain: Any = PlainFileStore) -> None:
    def build() -> Any:
        driver = ctx.sqlite_driver("smoke.db")
        raw = RawSqliteStore(ctx.tmp / "smoke_raw.db")
        variants = [
            save_variant("brainstorm", DriverStore(driver), spec, per_op=2),
            save_variant("plain file", plain(ctx.tmp / "plain"), spec, per_op=2),
            save_variant("raw sqlite3", raw, spec, per_op=2),
        ]
        return variants, "plain file", lambda: (driver.close(), raw.db.close())

    ctx.run_case("save", "sqlite", "smoke", build, reps=2, warmup=1)


def test_a_case_runs_verifies_and_reports(tmp_path: Path) -> None:
    ctx = Context(quick=True, tmp=tmp_path, server_url=None)
    _sqlite_case(ctx, SPEC)
    assert not ctx.failures
    assert [row["variant"] for row in ctx.rows] == ["brainstorm", "plain file", "raw sqlite3"]
    for row in ctx.rows:
        assert row["verified"] is True
        assert len(row["samples"]) == 2
        assert row["bytes_per_op"] == 256 * 400
        assert row["python_peak_bytes"] is not None
    assert ctx.rows[0]["ratio_cpu"]["n"] == 2
    assert ctx.rows[1]["ratio_cpu"] is None  # the reference

    verdicts = report.evaluate(ctx.rows, ctx.extra, quick=True)
    assert any(v["target"].startswith("sqlite throughput") for v in verdicts)
    assert "plain file" in report.text_table(ctx.rows)
    doc = {
        "command": "pytest",
        "started": "now",
        "duration_s": 1.0,
        "quick": True,
        "machine": report.machine(None),
        "targets": verdicts,
        "rows": ctx.rows,
        "extra": ctx.extra,
        "notes": [],
        "failures": [],
    }
    text = report.markdown(doc, "throughput.png")
    assert "## Targets" in text and "| save | sqlite | smoke | brainstorm |" in text
    report.plot(ctx.rows, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 0


class _LosingStore(PlainFileStore):
    """Writes one byte short: its read-back check must fail."""

    def save(self, when: dt.datetime, spec: Spec) -> None:
        super().save(when, spec)
        for result in spec:
            if result.payload:
                path = self.path(when, result)
                path.write_bytes(path.read_bytes()[:-1])


def test_a_variant_reading_back_something_else_fails_the_case(tmp_path: Path) -> None:
    ctx = Context(quick=True, tmp=tmp_path, server_url=None)
    _sqlite_case(ctx, SPEC, plain=_LosingStore)
    assert ctx.failures and "read back differs" in ctx.failures[0]
    assert ctx.rows[-1]["variant"] == "(failed)"


def test_query_plans_are_captured(tmp_path: Path) -> None:
    ctx = Context(quick=True, tmp=tmp_path, server_url=None)
    with ctx.sqlite_driver("plans_growth.db") as driver:
        driver.save_snapshot({"user_id": 42, "datetime": 1, "pose": {"x": 1}, "feelings": {"h": 0}})
        driver.save_snapshot({"user_id": 42, "datetime": 2, "pose": {"x": 1}, "feelings": {"h": 0}})
        plans = workloads.explain_plans(driver, tmp_path)
    calls = {p["call"] for p in plans}
    assert {"get_snapshot", "get_result", "get_snapshots"} <= calls
    assert all(p["plan"] and p["indexed"] for p in plans), plans


@pytest.mark.slow
def test_mongodb_stores_read_back(mongodb_server_url: str, tmp_path: Path) -> None:
    ctx = Context(quick=True, tmp=tmp_path, server_url=mongodb_server_url)
    try:
        workloads.save_case(ctx, "mongodb", "save", "smoke", SPEC, per_op=1, reps=1)
        assert not ctx.failures, ctx.failures
        assert {row["variant"] for row in ctx.rows} == {
            "brainstorm",
            "raw pymongo",
            "inline Binary",
            "file + path",
            "sha256 only",
        }
        driver_row = next(r for r in ctx.rows if r["variant"] == "brainstorm")
        assert driver_row["cmds_per_op"]["median"] > 0
        assert driver_row["includes"] == "sha256 only"
        assert driver_row["ratio_cpu_less_included"]["median"] < driver_row["ratio_cpu"]["median"]
        assert not ctx.recorder.unserved()
        # and a raw store on its own: what it saves, it reads back
        db = ctx.client()["bench_smoke_raw"]
        store = MongoStore(db, "gridfs")
        when = dt.datetime(2024, 1, 1)
        store.save(when, SPEC)
        store.check(when, SPEC)
        store.tidy(when)
        assert db["fs.files"].count_documents({}) == 1  # only the anchor file every GridFSStore keeps
    finally:
        ctx.drop("bench_smoke_raw")
        ctx.close()


def test_ratios_take_an_included_variant_out_repetition_by_repetition() -> None:
    samples = {
        "driver": [Sample(wall=3.0, cpu=5.0, cmds=0), Sample(wall=4.0, cpu=9.0, cmds=0)],
        "digest": [Sample(wall=1.0, cpu=1.0, cmds=0), Sample(wall=2.0, cpu=3.0, cmds=0)],
        "raw": [Sample(wall=2.0, cpu=4.0, cmds=0), Sample(wall=1.0, cpu=2.0, cmds=0)],
    }
    assert ratios(samples, "driver", "raw", "cpu")["median"] == pytest.approx((5 / 4 + 9 / 2) / 2)
    less = ratios(samples, "driver", "raw", "cpu", less="digest")
    assert (less["min"], less["max"]) == pytest.approx((1.0, 3.0))  # (5-1)/4 and (9-3)/2
    assert ratios(samples, "driver", "raw", "wall", less="missing") is None


def test_a_save_target_also_reports_the_figure_without_the_digest() -> None:
    row = {
        "workload": "save",
        "db": "sqlite",
        "case": "c",
        "variant": "brainstorm",
        "includes": "sha256 only",
        "ratio_wall": {"median": 4.0, "min": 4.0, "max": 4.0, "n": 1},
        "ratio_wall_less_included": {"median": 1.25, "min": 1.25, "max": 1.25, "n": 1},
    }
    (verdict,) = report.evaluate([row], {}, quick=True)
    assert verdict["measured"] == "0.25x; 0.80x less 'sha256 only'"
    assert verdict["met"] is False


def test_the_serve_workload_runs_and_verifies_on_the_embedded_driver(tmp_path: Path) -> None:
    ctx = Context(quick=True, tmp=tmp_path, server_url=None)
    serving.run(ctx)
    assert not ctx.failures, ctx.failures
    assert ctx.rows and all(row["verified"] for row in ctx.rows)
    assert all(row["peak_rss_added_bytes"] is not None for row in ctx.rows if row["case"].startswith("16 x"))
    assert "brainstorm serve" in report.text_table(ctx.rows)


def test_the_import_workload_runs_and_verifies_on_the_embedded_driver(tmp_path: Path) -> None:
    ctx = Context(quick=True, tmp=tmp_path, server_url=None)
    importing.run(ctx)
    assert not ctx.failures, ctx.failures
    assert {"--jobs 1", "raw sqlite3 loop"} <= {row["variant"] for row in ctx.rows}
    assert all(row["verified"] and row["messages_per_s"] > 0 and row["mb_per_s_wall"] for row in ctx.rows)
    assert ctx.rows[0]["case"].startswith("120 messages")
