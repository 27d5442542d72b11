"""The workloads of issue 4, each run against its baselines in the same run, on both drivers.

save: a snapshot as the pipeline saves it (one call per parser result), four ways of handing over the
colour image; metadata: get_snapshots / get_snapshot / get_result without a blob; blobs: payloads of
64 KiB..64 MiB saved, read whole and streamed; growth: one user with 1,000..100,000 snapshots. (size:
bench/bigblob.py; serve: bench/serving.py; import: bench/importing.py.)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from brainstorm.database_drivers._mongo_indexes import create_index, index_options
from brainstorm.database_drivers._mongo_records import INDEXES, LOOKUP_INDEXES

from . import payloads
from .context import USER, Context, next_datetime
from .measure import Variant
from .stores import (
    INLINE_DOCUMENT_LIMIT,
    DriverStore,
    MongoStore,
    Payload,
    PlainFileStore,
    RawSqliteStore,
    ResultSpec,
    Spec,
    as_array,
    digest_variant,
    millis,
    raw_sqlite,
    read_variant,
    save_variant,
    stream_digest,
)

KiB, MiB = 1024, 1024 * 1024
DRIVER, RAW, PLAIN, RAW_SQLITE, DIGEST = "brainstorm", "raw pymongo", "plain file", "raw sqlite3", "sha256 only"
REFERENCE = {"mongodb": RAW, "sqlite": PLAIN}


def dbs(ctx: Context) -> list[str]:
    return ["mongodb", "sqlite"] if ctx.server_url else ["sqlite"]


def size_label(size: int) -> str:
    return f"{size // MiB} MiB" if size >= MiB else f"{size // KiB} KiB"


# save ---------------------------------------------------------------------------------------------


def snapshot_specs(ctx: Context) -> dict[str, Spec]:
    rest = [
        ResultSpec("depth_image", {"width": 224, "height": 172}, Payload(payloads.depth_npy(), payloads.depth_map())),
        ResultSpec("pose", payloads.POSE),
        ResultSpec("feelings", payloads.FEELINGS),
    ]
    colours = {
        "colour ndarray": Payload(payloads.colour_npy(), payloads.colour_image()),
        "colour PNG bytes": Payload(payloads.colour_encoded("PNG")),
        "colour JPEG bytes": Payload(payloads.colour_encoded("JPEG")),
        "colour PNG file object": Payload(
            payloads.colour_encoded("PNG"),
            path=payloads.write_file(ctx.tmp / "parsed" / "color.png", payloads.colour_encoded("PNG")),
        ),
    }
    fields = {"width": 1920, "height": 1080}
    return {name: [ResultSpec("color_image", fields, colour), *rest] for name, colour in colours.items()}


def save_case(
    ctx: Context, db: str, workload: str, case: str, spec: Spec, per_op: int, reps: int, **extra: Any
) -> None:
    """The driver's save beside the baselines' (and the sha256 it must compute), on one database."""
    tag = re.sub(r"\W", "_", f"{workload}_{case}")

    def build() -> tuple[list[Variant], str, Callable[[], None]]:
        digest = digest_variant(DIGEST, [r.payload.stored for r in spec if r.payload], per_op)
        if db == "sqlite":
            driver, raw = ctx.sqlite_driver(f"{tag}.db"), RawSqliteStore(ctx.tmp / f"{tag}_raw.db")
            baselines = [
                save_variant(PLAIN, PlainFileStore(ctx.tmp / tag), spec, per_op),
                save_variant(RAW_SQLITE, raw, spec, per_op),
            ]
            return (
                [save_variant(DRIVER, DriverStore(driver), spec, per_op, includes=DIGEST), *baselines, digest],
                PLAIN,
                (lambda: (driver.close(), raw.db.close())),
            )
        ctx.drop("bench_save")
        driver, raw_db = ctx.mongo_driver("bench_save"), ctx.client()["bench_save"]
        # A snapshot that stays: every timed save is a user's next snapshot, in a bucket with files.
        driver.save_snapshot({"user_id": USER, "datetime": next_datetime(), "anchor": {"data": bytes(100 * KiB)}})
        variants = [
            save_variant(DRIVER, DriverStore(driver, tidy=True), spec, per_op, includes=DIGEST),
            save_variant(RAW, MongoStore(raw_db, "gridfs"), spec, per_op),
            digest,
        ]
        if sum(len(r.payload.stored) for r in spec if r.payload) <= INLINE_DOCUMENT_LIMIT:
            variants.append(save_variant("inline Binary", MongoStore(raw_db, "inline"), spec, per_op))
        variants.append(save_variant("file + path", MongoStore(raw_db, "path", ctx.tmp / tag), spec, per_op))
        return variants, RAW, lambda: (driver.close(), ctx.drop("bench_save"))

    ctx.run_case(workload, db, case, build, reps=reps + (2 if db == "sqlite" else 0), extra=extra)


def save(ctx: Context) -> None:
    for case, spec in snapshot_specs(ctx).items():
        if not ctx.quick or case == "colour ndarray":
            for db in dbs(ctx):  # the snapshot saves vary most run to run (server contention): 9 repetitions
                save_case(ctx, db, "save", case, spec, 1, 2 if ctx.quick else 9, results_per_op=len(spec))


# metadata -----------------------------------------------------------------------------------------


def metadata(ctx: Context) -> None:
    """The driver's reads beside the same reads in each baseline's own layout, of the same snapshots
    (raw pymongo: a document per snapshot, GridFS payloads; raw sqlite3: a row per result)."""
    spec = snapshot_specs(ctx)["colour JPEG bytes"]
    count, reps = (5, 3) if ctx.quick else (20, 7)
    names, width = sorted(r.name for r in spec), spec[0].fields["width"]
    expected = {
        "get_snapshots": lambda rows: len(rows) == count,
        "get_snapshot": lambda s: (s["available_results"] if isinstance(s, dict) else s) == names,
        "get_result (no blob)": lambda r: r["width"] == width,
    }
    for db in dbs(ctx):
        with _metadata_stores(ctx, db) as (driver, raw):
            store, whens = DriverStore(driver), [next_datetime() for _ in range(count)]
            for when in whens:
                store.save(when, spec)
                raw.save(when, spec)
            store.check(whens[-1], spec)
            raw.check(whens[-1], spec)
            when = whens[count // 2]
            mine = _driver_metadata_reads(driver, store.ids[when])
            theirs = _raw_metadata_reads(raw, when)
            baseline, per_op = (RAW, 10 if ctx.quick else 20) if db == "mongodb" else (RAW_SQLITE, 200)
            for case, check in expected.items():
                variants = [read_variant(DRIVER, mine[case], check, 0, per_op)]
                variants.append(read_variant(baseline, theirs[case], check, 0, per_op))
                ctx.run_case(
                    "metadata",
                    db,
                    f"{case}, {count} snapshots",
                    lambda v=variants, b=baseline: (v, b, None),
                    reps=reps,
                    peaks=False,
                )


@contextlib.contextmanager
def _metadata_stores(ctx: Context, db: str) -> Iterator[tuple[Any, Any]]:
    if db == "sqlite":
        raw = RawSqliteStore(ctx.tmp / "metadata_raw.db")
        with ctx.sqlite_driver("metadata.db") as driver:
            yield driver, raw
        raw.db.close()
        return
    ctx.drop("bench_metadata")
    try:
        with ctx.mongo_driver("bench_metadata") as driver:
            yield driver, MongoStore(ctx.client()["bench_metadata"], "gridfs")
    finally:
        ctx.drop("bench_metadata")


def _driver_metadata_reads(driver: Any, sid: int) -> dict[str, Callable[[], Any]]:
    return {
        "get_snapshots": lambda: driver.get_snapshots(USER),
        "get_snapshot": lambda: driver.get_snapshot(USER, sid),
        "get_result (no blob)": lambda: driver.get_result(USER, sid, "color_image"),
    }


def _raw_metadata_reads(raw: Any, when: dt.datetime) -> dict[str, Callable[[], Any]]:
    if isinstance(raw, MongoStore):
        docs, key = raw.collection, {"user_id": USER, "datetime": when}
        return {
            "get_snapshots": lambda: list(docs.find({"user_id": USER}, {"_id": 0, "datetime": 1}).sort("datetime", 1)),
            "get_snapshot": lambda: sorted(docs.find_one(key, {"_id": 0, "datetime": 1, "results": 1})["results"]),
            "get_result (no blob)": lambda: docs.find_one(key, {"_id": 0, "results.color_image": 1})["results"][
                "color_image"
            ],
        }
    sql, key_ = raw.db.execute, (USER, millis(when))
    return {
        "get_snapshots": lambda: sql(
            "SELECT datetime, count(*) FROM results WHERE user_id = ? GROUP BY datetime ORDER BY datetime", (USER,)
        ).fetchall(),
        "get_snapshot": lambda: [
            n for (n,) in sql("SELECT name FROM results WHERE user_id = ? AND datetime = ?", key_)
        ],
        "get_result (no blob)": lambda: json.loads(
            sql(
                "SELECT fields FROM results WHERE user_id = ? AND datetime = ? AND name = ?", (*key_, "color_image")
            ).fetchone()[0]
        ),
    }


# blobs --------------------------------------------------------------------------------------------


def blobs(ctx: Context) -> None:
    sizes = [64 * KiB, 4 * MiB] if ctx.quick else [64 * KiB, 256 * KiB, MiB, 4 * MiB, 16 * MiB, 64 * MiB]
    for size in sizes:
        data = payloads.random_bytes(size, seed=size)
        per_op, reps = max(1, min(16, 4 * MiB // size)), 2 if ctx.quick else 3 if size >= 16 * MiB else 5
        for db in dbs(ctx):
            spec = [ResultSpec("blob", {"n": 1}, Payload(data))]
            save_case(ctx, db, "blob save", size_label(size), spec, per_op, reps, size=size)
            blob_reads(ctx, db, Payload(data), per_op, reps)
    if not ctx.quick:
        for db in dbs(ctx):
            blob_reads(ctx, db, Payload(payloads.colour_npy(), payloads.colour_image()), 1, 5)


def blob_reads(ctx: Context, db: str, payload: Payload, per_op: int, reps: int) -> None:
    """The driver's whole and streamed reads of one saved payload (each beside the sha256 it checks), and
    the baselines' reads of the same bytes from their own documents, rows and files."""
    data, array = payload.stored, payload.array is not None
    size, digest = len(data), hashlib.sha256(data).hexdigest()
    case = "colour ndarray (.npy)" if array else size_label(size)
    decode: Callable[[bytes], Any] = as_array if array else bytes
    path = payloads.write_file(ctx.tmp / "read" / f"blob-{size}.bin", data)
    whole: dict[str, Callable[[], Any]] = {PLAIN: path.read_bytes}
    stream: dict[str, Callable[[], Any]] = {PLAIN: lambda: path.open("rb")}
    if db == "mongodb":
        import gridfs
        from bson import Binary

        ctx.drop("bench_read")
        driver, raw = ctx.mongo_driver("bench_read"), ctx.client()["bench_read"]
        bucket, key = gridfs.GridFSBucket(raw), {"user_id": USER, "snapshot_id": 1}
        stored = {"gridfs": bucket.upload_from_stream("raw", data), "path": str(path)}
        if size <= INLINE_DOCUMENT_LIMIT:
            stored["inline"] = Binary(data)
        for collection, value in stored.items():
            raw[collection].create_index([("user_id", 1), ("snapshot_id", 1)], unique=True)
            raw[collection].insert_one({**key, "data": value})
        find = lambda collection: raw[collection].find_one(key)["data"]  # noqa: E731
        whole = {RAW: lambda: bucket.open_download_stream(find("gridfs")).read()}
        if "inline" in stored:
            whole["inline Binary"] = lambda: find("inline")
        whole["file + path"] = lambda: Path(find("path")).read_bytes()
        stream = {
            RAW: lambda: bucket.open_download_stream(find("gridfs")),
            "file + path": lambda: Path(find("path")).open("rb"),  # noqa: SIM115 (stream_digest closes it)
        }
        cleanup: Callable[[], Any] = lambda: (driver.close(), ctx.drop("bench_read"))  # noqa: E731
    else:
        driver, raw = ctx.sqlite_driver("read.db"), raw_sqlite(ctx.tmp / "read_raw.db")
        raw.execute("CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, data BLOB)")
        raw.execute("INSERT OR REPLACE INTO blobs VALUES (?, ?)", (size, data))
        whole[RAW_SQLITE] = lambda: raw.execute("SELECT data FROM blobs WHERE id = ?", (size,)).fetchone()[0]
        stream[RAW_SQLITE] = lambda: raw.blobopen("blobs", "data", size, readonly=True)
        reps += 2
        cleanup = lambda: (driver.close(), raw.close())  # noqa: E731
    sid = driver.save_snapshot({"user_id": USER, "datetime": next_datetime(), "blob": {"data": payload.for_driver()}})
    same = payload.matches
    reference, extra = REFERENCE[db], {"size": size, "kind": "ndarray" if array else "bytes"}
    read_whole = [
        digest_variant(DIGEST, [data], per_op),
        read_variant(
            DRIVER,
            lambda: driver.get_result(USER, sid, "blob")["data"],
            same,
            size,
            per_op,
            includes=DIGEST,
        ),
        *(read_variant(name, lambda r=read: decode(r()), same, size, per_op) for name, read in whole.items()),
    ]
    read_stream = [
        read_variant(
            DRIVER,
            lambda: stream_digest(driver.get_result(USER, sid, "blob").open("data")),
            digest.__eq__,
            size,
            per_op,
            includes=DIGEST,
        ),
        digest_variant(DIGEST, [data], per_op),
        *(
            read_variant(name, lambda o=open_: stream_digest(o()), digest.__eq__, size, per_op)
            for name, open_ in stream.items()
        ),
    ]
    try:
        ctx.run_case("blob read whole", db, case, lambda: (read_whole, reference, None), reps=reps, extra=extra)
        if not array:
            ctx.run_case("blob read stream", db, case, lambda: (read_stream, reference, None), reps=reps, extra=extra)
    finally:
        cleanup()
        path.unlink()


# growth -------------------------------------------------------------------------------------------

GROWTH_EPOCH = dt.datetime(2020, 1, 1)


def growth_snapshot(i: int) -> dict[str, Any]:
    return {"user_id": USER, "datetime": GROWTH_EPOCH + dt.timedelta(seconds=i), **GROWTH_RESULTS}


GROWTH_RESULTS = {"feelings": payloads.FEELINGS, "pose": payloads.POSE}


def growth(ctx: Context) -> None:
    """One user with 1,000, 10,000 and 100,000 snapshots (1,000 and 10,000 in --quick): get_snapshot and
    get_result of snapshots spread over each, and get_snapshots, every size in the same case."""
    sizes = [1_000, 10_000] if ctx.quick else [1_000, 10_000, 100_000]
    _sqlite_growth(ctx, sizes)
    if ctx.server_url:
        _mongo_growth(ctx, sizes)


def _growth_cases(ctx: Context, db: str, drivers: dict[int, Any], probes: int, reps: int, **extra: Any) -> None:
    def variants(call: str) -> list[Variant]:
        found = []
        for count, driver in drivers.items():
            ids = itertools.cycle(sorted({1 + i * (count - 1) // (probes - 1) for i in range(probes)}))
            if call == "get_snapshots":
                read, expected, per_op = lambda d=driver: d.get_snapshots(USER), lambda r, c=count: len(r) == c, 1
            elif call == "get_snapshot":
                read = lambda d=driver, i=ids: d.get_snapshot(USER, next(i))  # noqa: E731
                expected, per_op = lambda s: s["available_results"] == sorted(GROWTH_RESULTS), probes
            else:
                read = lambda d=driver, i=ids: d.get_result(USER, next(i), "pose")  # noqa: E731
                expected, per_op = lambda r: r["translation"] == payloads.POSE["translation"], probes
            found.append(read_variant(f"{count:,} snapshots", read, expected, 0, per_op))
        return found

    reference = f"{min(drivers):,} snapshots"
    for call in ("get_snapshot", "get_result", "get_snapshots"):
        ctx.run_case(
            "growth", db, call, lambda c=call: (variants(c), reference, None), reps=reps, peaks=False, extra=extra
        )


def _sqlite_growth(ctx: Context, sizes: list[int]) -> None:
    print(f"  growth / sqlite: saving {max(sizes):,} snapshots through the driver ...", flush=True)
    started, files = time.perf_counter(), {}
    with ctx.sqlite_driver("growth.db") as driver:
        for i in range(1, max(sizes) + 1):
            driver.save_snapshot(growth_snapshot(i))
            if i in sizes:
                files[i] = ctx.tmp / f"growth_{i}.db"
                with sqlite3.connect(driver.path) as source, sqlite3.connect(files[i]) as copy:
                    source.backup(copy)
    seconds = time.perf_counter() - started
    ctx.notes.append(
        f"Growth on sqlite: {max(sizes):,} snapshots saved through the driver in {seconds:.1f} s "
        f"({max(sizes) / seconds:.0f} saves/s), the database copied at each size."
    )
    drivers = {size: ctx.sqlite_driver(path.name) for size, path in files.items()}
    try:
        ctx.extra["explain_query_plan"] = explain_plans(drivers[max(sizes)], ctx.tmp)
        _growth_cases(ctx, "sqlite", drivers, probes=50, reps=3 if ctx.quick else 7)
    finally:
        for driver in drivers.values():
            driver.close()


def explain_plans(driver: Any, tmp: Path) -> list[dict[str, Any]]:
    """EXPLAIN QUERY PLAN of every statement the sqlite driver runs for the metadata reads and a blob read
    (the statements are taken from the driver's connection with `set_trace_callback`)."""
    import brainstorm.database_drivers as db_drivers

    small = db_drivers.connect(f"sqlite:///{tmp / 'plans.db'}")
    sid = small.save_snapshot({"user_id": USER, "datetime": 0, "blob": {"data": payloads.random_bytes(3 * MiB)}})
    calls: list[tuple[str, Any, Callable[[Any], Any]]] = [
        ("get_snapshot", driver, lambda d: d.get_snapshot(USER, 2)),
        ("get_result", driver, lambda d: d.get_result(USER, 2, "pose")),
        ("get_snapshots", driver, lambda d: d.get_snapshots(USER)),
        ("result.open + read (blob)", small, lambda d: d.get_result(USER, sid, "blob").open("data").read()),
    ]
    plans, seen = [], set()
    with contextlib.closing(small):
        for call, target, run in calls:
            statements: list[str] = []
            target._db.connection.set_trace_callback(statements.append)
            try:
                run(target)
            finally:
                target._db.connection.set_trace_callback(None)
            with sqlite3.connect(target.path) as db:
                for sql in statements:
                    shape = (call, re.sub(r"\b\d+\b", "?", sql))
                    if sql.split()[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK") or shape in seen:
                        continue
                    seen.add(shape)
                    plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql)]
                    scans = [line for line in plan if line.startswith(("SEARCH", "SCAN"))]
                    indexed = all("USING" in line and ("INDEX" in line or "PRIMARY KEY" in line) for line in scans)
                    plans.append({"call": call, "sql": sql, "plan": plan, "indexed": indexed})
    return plans


def _mongo_growth(ctx: Context, sizes: list[int]) -> None:
    """Each size's database holds the same snapshot n times, bulk-inserted (insert_many) in the driver's
    documented layout (README, MongoDB layout: a `snapshots` and a `results` document each, the user's
    document and `snapshot_ids` counter, the layout record), copied from a snapshot the driver saved,
    and read through the driver. The driver's unique indexes are made with the same keys and options but
    not unique, because DocumentDB checks a unique index by scanning the collection (`_save_growth`
    measures what that costs a save): filling 100,000 snapshots under them would take most of an hour.
    The reads are the same either way (the lookups use the index's keys, its first column)."""
    client, template = ctx.client(), "bench_growth_template"
    client.drop_database(template)
    with ctx.mongo_driver(template) as driver:
        driver.save_snapshot(growth_snapshot(0))
    layout = {name: list(client[template][name].find({}, {"_id": 0})) for name in ("snapshots", "results")}
    layout |= {name: list(client[template][name].find()) for name in ("users", "layout")}  # keyed by `_id`
    client.drop_database(template)
    drivers: dict[int, Any] = {}
    try:
        for size in sizes:
            name = f"bench_growth_{size}"
            client.drop_database(name)
            started, db = time.perf_counter(), client[name]
            drivers[size] = driver = ctx.mongo_driver(name)  # it only reads: it never makes its own indexes
            options = index_options(driver.database)
            for collection, keys in [*INDEXES.items(), *LOOKUP_INDEXES.items()]:
                for key in keys:  # through the driver's client: the index check learns of them
                    create_index(driver.database[collection], key, options)
            _fill(db, layout, 1, size)
            db.users.insert_many(layout["users"])
            db.layout.insert_many(layout["layout"])
            db.snapshot_ids.insert_one({"_id": USER, "last": size})
            ctx.extra.setdefault("growth_mongodb_fill_s", {})[size] = time.perf_counter() - started
            if driver.get_snapshot(USER, size)["available_results"] != sorted(GROWTH_RESULTS):
                raise AssertionError("the bulk-inserted snapshots do not read back as the driver's")
        plans = ctx.extra["growth_mongodb_explain"] = explain_mongo(ctx, drivers[max(sizes)])
        ctx.notes.append(
            f"Growth on mongodb ({ctx.server_version}): the snapshots were bulk-inserted in the driver's documented "
            "layout, under the driver's index keys and options made not unique (see bench/workloads.py, "
            "`_mongo_growth`), and read through the driver. The server's plan for each find of get_snapshot and "
            "get_result (section MongoDB query plans): "
            + "; ".join(f"{p['command'].get('find', '?')}: {p['plan']['plan']}" for p in plans)
            + "."
        )
        _growth_cases(ctx, "mongodb", drivers, probes=10, reps=2 if ctx.quick else 3, server=ctx.server_version)
    finally:
        for size, driver in drivers.items():
            driver.close()
            client.drop_database(f"bench_growth_{size}")
    _save_growth(ctx, layout, [1_000, 3_000] if ctx.quick else [1_000, 10_000])


def _fill(db: Any, layout: dict[str, list[dict[str, Any]]], first: int, last: int) -> None:
    """Copies of the template snapshot's `snapshots` and `results` documents as snapshots first..last."""
    for collection in ("snapshots", "results"):
        for start in range(first, last + 1, 5000):
            db[collection].insert_many(
                [
                    {
                        **doc,
                        "snapshot_id": i,
                        **({"datetime": growth_snapshot(i)["datetime"]} if "datetime" in doc else {}),
                    }
                    for i in range(start, min(start + 5000, last + 1))
                    for doc in layout[collection]
                ]
            )


def _save_growth(ctx: Context, layout: dict[str, list[dict[str, Any]]], sizes: list[int]) -> None:
    """What a save costs as the snapshots grow, under the driver's own (unique) indexes: filled to each size
    (bulk-inserted, timed), then 5 snapshots saved through the driver (timed), and a note of both."""
    client, name, last = ctx.client(), "bench_save_growth", 5
    client.drop_database(name)
    figures: dict[int, dict[str, float]] = {}
    try:
        with ctx.mongo_driver(name) as driver:
            driver.save_user({"user_id": USER})  # the indexes, the layout record, the user
            held = 0
            for size in sizes:
                began = time.perf_counter()
                _fill(client[name], layout, held + 1, size - last)
                client[name].snapshot_ids.update_one({"_id": USER}, {"$set": {"last": size - last}}, upsert=True)
                filled, began = time.perf_counter() - began, time.perf_counter()
                ids = [driver.save_snapshot(growth_snapshot(i)) for i in range(size - last + 1, size + 1)]
                if ids != list(range(size - last + 1, size + 1)):
                    raise AssertionError(f"saves after the bulk-inserted ones were numbered {ids}")
                figures[size] = {"insert_ms_per_snapshot": filled / (size - last - held) * 1e3}
                figures[size]["save_ms"] = (time.perf_counter() - began) / last * 1e3
                held = size
    finally:
        client.drop_database(name)
    ctx.extra["growth_mongodb_saves"] = figures
    ctx.notes.append(
        f"Saves as the snapshots grow, on mongodb ({ctx.server_version}), under the driver's unique indexes: "
        + ", ".join(
            f"at {size:,} snapshots a save (pose and feelings, a new snapshot) took {f['save_ms']:.1f} ms "
            f"and a bulk insert {f['insert_ms_per_snapshot']:.2f} ms a snapshot"
            for size, f in figures.items()
        )
        + ". DocumentDB checks each unique index (every collection's but `_id`) by scanning the collection, so "
        "an insert costs more the more documents it holds; MongoDB's unique indexes are B-trees."
    )


def explain_mongo(ctx: Context, driver: Any) -> list[dict[str, Any]]:
    """The server's `explain` of every find the driver sends for get_snapshot and get_result."""
    plans = []
    for call, run in (
        ("get_snapshot", lambda: driver.get_snapshot(USER, 2)),
        ("get_result", lambda: driver.get_result(USER, 2, "pose")),
    ):
        ctx.counter.recording = []
        try:
            run()
            commands = [c for c in ctx.counter.recording if c["name"] in ("find", "aggregate", "count")]
        finally:
            ctx.counter.recording = None
        for c in commands:
            command = {
                k: v for k, v in c["command"].items() if k not in ("lsid", "$db", "$clusterTime", "$readPreference")
            }
            try:
                answer = ctx.client()[c["database"]].command("explain", command, verbosity="queryPlanner")
            except Exception as exc:  # the server may not explain it: say so
                answer = {"error": repr(exc)}
            nodes, plan = [], (answer.get("queryPlanner") or {}).get("Plan")
            while isinstance(plan, dict):  # PostgreSQL's plan: the nodes down to the scan
                nodes.append(plan)
                plan = (plan.get("Plans") or [None])[0]
            summary = {"plan": " > ".join(n["Node Type"] for n in nodes) or json.dumps(answer, default=str)[:300]}
            summary |= {
                k: n[k] for n in nodes for k in ("Relation Name", "Index Name", "Filter", "Index Cond") if k in n
            }
            summary |= {k: v for k, v in answer.items() if k.endswith("Pushdown") or k == "error"}
            indexes = ctx.client()[c["database"]][command.get("find", "")].index_information()
            summary["indexes of the collection"] = ", ".join(f"{name} {i['key']}" for name, i in indexes.items())
            plans.append({"call": call, "command": command, "plan": summary})
    return plans
