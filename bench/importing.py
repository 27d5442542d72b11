"""Workload 7 (issue 11): `python -m brainstorm.saver import --jobs N` of a pipeline directory, beside a
plain loop of raw calls saving the same messages.

The directory is `fixtures/pipeline/generate.py`'s (as `make run` writes it: 120 messages, ~15 MB); on
sqlite, in a full run, with 3 copies beside it under other datetimes (480 messages). Each run is a fresh process into an
empty database: the importer with `--jobs 1, 2, 4`, and `python -m bench.importing URL DIR`, the raw
loop (raw pymongo: GridFS upload of the payload + one document per result; raw sqlite3: one row per
result, the payload a BLOB). Wall time and the CPU of the process and its children; messages/s, MB/s.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .context import Context, with_database

ROOT = Path(__file__).resolve().parent.parent
RAW_LOOP = {"mongodb": "raw pymongo loop", "sqlite": "raw sqlite3 loop"}


def dataset(directory: Path, copies: int) -> None:
    """The generated pipeline directory in `directory/0`, and `copies - 1` copies of it beside (datetimes
    shifted, payload files hard-linked)."""
    from fixtures.pipeline.generate import generate

    generate(directory / "0")
    messages = sorted((directory / "0").rglob("*.json"))
    for k in range(1, copies):
        for message in messages:
            text, when = message.read_text(), message.parent.name
            target = directory / str(k) / message.relative_to(directory / "0").parent
            target.mkdir(parents=True, exist_ok=True)
            (target / message.name).write_text(text.replace(when, str(int(when) + k * 10**9)))
            for payload in message.parent.iterdir():
                if payload.suffix != ".json" and not (target / payload.name).exists():
                    os.link(payload, target / payload.name)


def _timed(command: list[str]) -> tuple[float, float]:
    """Run a command; its wall time and its CPU (user + sys of it and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[2:5])} failed: {done.stderr.strip()[-500:]}")
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def has_jobs() -> bool:
    help_ = subprocess.run(
        [sys.executable, "-m", "brainstorm.saver", "import", "--help"], capture_output=True, text=True
    )
    return "--jobs" in help_.stdout


def run(ctx: Context) -> None:
    dataset(ctx.tmp / "pipeline", 1 if ctx.quick else 4)
    jobs, reps = (1, 2, 4) if has_jobs() else (1,), 1 if ctx.quick else 2
    if jobs == (1,):
        ctx.notes.append("import: this importer has no --jobs option: measured as one process (--jobs 1).")
    for db in ["mongodb", "sqlite"] if ctx.server_url else ["sqlite"]:
        # FerretDB on SQLite takes about 0.1 s a message: mongodb imports the one generated directory
        directory = ctx.tmp / "pipeline" / ("0" if db == "mongodb" else "")
        messages = sorted(directory.rglob("*.json"))
        nbytes = sum(p.stat().st_size for p in directory.rglob("*") if p.suffix in (".png", ".npy"))
        case = f"{len(messages)} messages, {nbytes / 1e6:.0f} MB"
        figures: dict[str, list[tuple[float, float]]] = {}
        for rep in range(reps):
            for variant in [*(f"--jobs {n}" for n in jobs), RAW_LOOP[db]]:
                if db == "mongodb":
                    ctx.drop("bench_import")
                    url = with_database(ctx.server_url or "", "bench_import")
                else:
                    url = f"sqlite:///{ctx.tmp / f'import-{rep}-{variant[-1]}.db'}"
                if variant == RAW_LOOP[db]:
                    command = [sys.executable, "-m", "bench.importing", url, str(directory)]
                else:
                    options = ["--jobs", variant.split()[1]] if len(jobs) > 1 else []
                    command = [sys.executable, "-m", "brainstorm.saver", "import", "--no-progress", "-d", url]
                    command += [*options, str(directory)]
                try:
                    figures.setdefault(variant, []).append(_timed(command))
                    _check(url, len(messages), raw=variant == RAW_LOOP[db])
                except Exception as exc:  # recorded, reported, and the run's exit status says so
                    ctx.failures.append(f"import / {db} / {variant}: {exc}")
                    ctx.rows.append(
                        {"workload": "import", "db": db, "case": case, "variant": "(failed)", "error": str(exc)}
                    )
        reference = figures.get(RAW_LOOP[db])
        for variant, runs in figures.items():
            row = ctx.add_row("import", db, case, variant, runs, reference, RAW_LOOP[db], nbytes=nbytes)
            row["messages_per_s"] = len(messages) / row["wall_s"]["median"]
        if db == "mongodb":
            ctx.drop("bench_import")
        rates = ", ".join(
            f"{r['variant']} {r['messages_per_s']:.0f}" for r in ctx.rows if r.get("messages_per_s") and r["db"] == db
        )
        ctx.notes.append(f"import / {db}: messages/s (median, a fresh process each, start-up included): {rates}.")


def _check(url: str, messages: int, raw: bool) -> None:
    """Every message was saved: a result each (through the driver, or the raw loop's own rows)."""
    if raw and url.startswith("sqlite"):
        from .stores import raw_sqlite

        db = raw_sqlite(Path(url.removeprefix("sqlite:///")))
        saved = db.execute("SELECT count(*) FROM results").fetchone()[0]
        db.close()
    elif raw:
        import pymongo

        with pymongo.MongoClient(url) as client:
            saved = client.get_default_database().results.count_documents({})
    else:
        import brainstorm.database_drivers as db_drivers

        with db_drivers.connect(url) as driver:
            saved = sum(
                len(driver.get_snapshot(user["user_id"], s["snapshot_id"])["available_results"])
                for user in driver.get_users()
                for s in driver.get_snapshots(user["user_id"])
            )
    if saved != messages:
        raise AssertionError(f"{saved} results saved for {messages} messages")


def raw_loop(url: str, directory: Path) -> None:
    """Save every message with plain client calls, one at a time: the baseline."""
    from bson import json_util

    if url.startswith("sqlite"):
        from .stores import raw_sqlite

        db = raw_sqlite(Path(url.removeprefix("sqlite:///")))
    else:
        import gridfs
        import pymongo

        database = pymongo.MongoClient(url).get_default_database()
        bucket, results = gridfs.GridFSBucket(database), database.results
        results.create_index([("user_id", 1), ("datetime", 1), ("name", 1)], unique=True)
    for message in sorted(directory.rglob("*.json")):
        value: dict[str, Any] = json_util.loads(message.read_text())
        user, when = value.pop("user")["user_id"], value.pop("datetime")
        ((name, fields),) = value.items()
        data = (message.parent / fields.pop("path")).read_bytes() if "path" in fields else None
        if url.startswith("sqlite"):
            db.execute("INSERT INTO results VALUES (?, ?, ?, ?, ?)", (user, when, name, json.dumps(fields), data))
        else:
            if data is not None:
                fields["data"] = bucket.upload_from_stream(f"{user}/{when}/{name}", data)
            results.insert_one({"user_id": user, "datetime": when, "name": name, "value": fields})


if __name__ == "__main__":
    raw_loop(sys.argv[1], Path(sys.argv[2]))
