"""The workloads of issue 4, each run against its baselines in the same run.

1. save: a snapshot as the pipeline saves it (one call per parser result), four ways of handing
   over the colour image; 2. metadata: get_snapshots / get_snapshot / get_result without a blob;
3. blobs: payloads of 64 KiB..64 MiB saved, read whole and streamed; 4. growth: one user with
   1,000..100,000 snapshots; 5. size: one 1 GiB blob (bench/bigblob.py, a process per variant).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import payloads
from .context import USER, Context, next_datetime
from .measure import Variant
from .stores import (
    INLINE_DOCUMENT_LIMIT,
    DriverStore,
    FilePathStore,
    GridFSStore,
    InlineStore,
    Payload,
    PlainFileStore,
    RawSqliteStore,
    ResultSpec,
    Spec,
    as_array,
    digest_variant,
    mongo_tidy,
    raw_sqlite,
    read_digest_variant,
    read_variant,
    save_variant,
    spec_bytes,
    stream_digest,
)

KiB, MiB = 1024, 1024 * 1024
RAW = "raw pymongo"
DRIVER = "brainstorm"
PLAIN = "plain file"
RAW_SQLITE = "raw sqlite3"
DIGEST = "sha256 only"


def _size_label(size: int) -> str:
    return f"{size // MiB} MiB" if size >= MiB else f"{size // KiB} KiB"


# Workload 1: save ---------------------------------------------------------------------------------


def snapshot_specs(ctx: Context) -> dict[str, Spec]:
    colour_fields = {"width": 1920, "height": 1080}
    rest = [
        ResultSpec(
            "depth_image", {"width": 224, "height": 172}, Payload.of_array(payloads.depth_map(), payloads.depth_npy())
        ),
        ResultSpec("pose", payloads.POSE),
        ResultSpec("feelings", payloads.FEELINGS),
    ]
    png_file = payloads.write_file(ctx.tmp / "parsed" / "color.png", payloads.colour_png())
    colours = {
        "colour ndarray": Payload.of_array(payloads.colour_image(), payloads.colour_npy()),
        "colour PNG bytes": Payload.of_bytes(payloads.colour_png()),
        "colour JPEG bytes": Payload.of_bytes(payloads.colour_jpeg()),
        "colour PNG file object": Payload.of_file(png_file),
    }
    return {name: [ResultSpec("color_image", colour_fields, colour), *rest] for name, colour in colours.items()}


def _mongo_save_case(
    ctx: Context, workload: str, case: str, spec: Spec, per_op: int, reps: int, extra: dict[str, Any] | None = None
) -> None:
    driver_db, raw_db = "bench_save_driver", "bench_save_raw"

    def build() -> tuple[list[Variant], str, Callable[[], None]]:
        ctx.drop(driver_db)
        ctx.drop(raw_db)
        driver = ctx.mongo_driver(driver_db)
        db = ctx.client()[raw_db]
        # A snapshot (with a blob) that stays: every timed save is then a user's next snapshot, not its
        # first, in a bucket that already has files (as in steady use), whatever the tidying removes.
        driver.save_snapshot(
            {"user_id": USER, "datetime": next_datetime(), "anchor": {"data": payloads.random_bytes(100 * KiB)}}
        )
        variants = [
            save_variant(
                DRIVER, DriverStore(driver, mongo_tidy(ctx.client()[driver_db])), spec, per_op, includes=DIGEST
            ),
            save_variant(RAW, GridFSStore(db), spec, per_op, note="GridFSBucket upload + 1 update per result"),
            digest_variant(DIGEST, spec, per_op),
        ]
        if spec_bytes(spec) <= INLINE_DOCUMENT_LIMIT:
            variants.append(save_variant("inline Binary", InlineStore(db), spec, per_op))
        variants.append(save_variant("file + path", FilePathStore(db, ctx.tmp / "oldway"), spec, per_op))

        def cleanup() -> None:
            driver.close()
            ctx.drop(driver_db)
            ctx.drop(raw_db)

        return variants, RAW, cleanup

    ctx.run_case(workload, "mongodb", case, build, reps=reps, extra=extra)


def _sqlite_save_case(
    ctx: Context, workload: str, case: str, spec: Spec, per_op: int, reps: int, extra: dict[str, Any] | None = None
) -> None:
    tag = case.replace(" ", "_")

    def build() -> tuple[list[Variant], str, Callable[[], None]]:
        driver = ctx.sqlite_driver(f"save_{tag}.db")
        raw = RawSqliteStore(ctx.tmp / f"save_{tag}_raw.db")
        variants = [
            save_variant(DRIVER, DriverStore(driver), spec, per_op, includes=DIGEST),
            save_variant(PLAIN, PlainFileStore(ctx.tmp / f"plain_{tag}"), spec, per_op, note="write() of the bytes"),
            save_variant(RAW_SQLITE, raw, spec, per_op, note="one BLOB row per result"),
            digest_variant(DIGEST, spec, per_op),
        ]

        def cleanup() -> None:
            driver.close()
            raw.db.close()

        return variants, PLAIN, cleanup

    ctx.run_case(workload, "sqlite", case, build, reps=reps, extra=extra)


def save(ctx: Context) -> None:
    specs = snapshot_specs(ctx)
    reps = 2 if ctx.quick else 9  # the snapshot saves vary most run to run (server contention)
    for case, spec in specs.items():
        if ctx.quick and case != "colour ndarray":
            continue
        extra = {"results_per_op": len(spec)}
        if ctx.server_url:
            _mongo_save_case(ctx, "save", case, spec, 1, reps, extra)
        _sqlite_save_case(ctx, "save", case, spec, 1, reps + 2, extra)


# Workload 2: metadata reads -----------------------------------------------------------------------


def metadata(ctx: Context) -> None:
    spec = snapshot_specs(ctx)["colour JPEG bytes"]
    count, reps = (5, 3) if ctx.quick else (20, 7)
    if ctx.server_url:
        _mongo_metadata(ctx, spec, count, 10 if ctx.quick else 20, reps)
    _sqlite_metadata(ctx, spec, count, 200, reps)


def _saved(driver: Any, spec: Spec, count: int) -> list[int]:
    store = DriverStore(driver)
    whens = [next_datetime() for _ in range(count)]
    for when in whens:
        store.save(when, spec)
    store.check(whens[-1], spec)
    return [store.ids[when] for when in whens]


def _expect_listing(ids: list[int]) -> Callable[[Any], bool]:
    return lambda rows: [row["snapshot_id"] if isinstance(row, dict) else row[0] for row in rows] == ids


def _mongo_metadata(ctx: Context, spec: Spec, count: int, per_op: int, reps: int) -> None:
    """The driver's reads beside the same reads in raw pymongo on the driver's own documents.

    The raw side follows the driver's layout (brainstorm/database_drivers/mongodb_driver.py): a
    `snapshots` document per snapshot and a `results` document per result.
    """
    name = "bench_metadata"
    ctx.drop(name)
    driver = ctx.mongo_driver(name)
    ids = _saved(driver, spec, count)
    sid = ids[len(ids) // 2]
    db = ctx.client()[name]
    key = {"user_id": USER, "snapshot_id": sid}
    names = sorted(r.name for r in spec)
    width = spec[0].fields["width"]

    def raw_snapshot() -> Any:
        doc = db.snapshots.find_one(key, {"_id": 0, "datetime": 1})
        return doc, sorted(row["name"] for row in db.results.find(key, {"_id": 0, "name": 1}))

    cases: dict[str, list[Variant]] = {
        "get_snapshots": [
            read_variant(DRIVER, lambda: driver.get_snapshots(USER), _expect_listing(ids), 0, per_op),
            read_variant(
                RAW,
                lambda: list(
                    db.snapshots.find({"user_id": USER}, {"_id": 0, "snapshot_id": 1, "datetime": 1}).sort(
                        "datetime", 1
                    )
                ),
                _expect_listing(ids),
                0,
                per_op,
            ),
        ],
        "get_snapshot": [
            read_variant(
                DRIVER, lambda: driver.get_snapshot(USER, sid), lambda s: s["available_results"] == names, 0, per_op
            ),
            read_variant(RAW, raw_snapshot, lambda s: s[0] is not None and s[1] == names, 0, per_op),
        ],
        "get_result (no blob)": [
            read_variant(
                DRIVER, lambda: driver.get_result(USER, sid, "color_image")["width"], lambda w: w == width, 0, per_op
            ),
            read_variant(
                RAW,
                lambda: db.results.find_one({**key, "name": "color_image"})["value"]["width"],
                lambda w: w == width,
                0,
                per_op,
            ),
        ],
    }
    try:
        for case, variants in cases.items():
            ctx.run_case(
                "metadata",
                "mongodb",
                f"{case}, {count} snapshots",
                lambda v=variants: (v, RAW, lambda: None),
                reps=reps,
                peaks=False,
            )
    finally:
        driver.close()
        ctx.drop(name)


def _sqlite_metadata(ctx: Context, spec: Spec, count: int, per_op: int, reps: int) -> None:
    driver = ctx.sqlite_driver("metadata.db")
    ids = _saved(driver, spec, count)
    sid = ids[len(ids) // 2]
    raw = sqlite3.connect(driver.path, isolation_level=None)
    names = sorted(r.name for r in spec)
    width = spec[0].fields["width"]

    def raw_snapshot() -> Any:
        row = raw.execute(
            "SELECT datetime FROM snapshots WHERE user_id = ? AND snapshot_id = ?", (USER, sid)
        ).fetchone()
        found = raw.execute("SELECT name FROM results WHERE user_id = ? AND snapshot_id = ?", (USER, sid)).fetchall()
        return row, sorted(n for (n,) in found)

    cases: dict[str, list[Variant]] = {
        "get_snapshots": [
            read_variant(DRIVER, lambda: driver.get_snapshots(USER), _expect_listing(ids), 0, per_op),
            read_variant(
                RAW_SQLITE,
                lambda: raw.execute(
                    "SELECT snapshot_id, datetime FROM snapshots WHERE user_id = ? ORDER BY datetime", (USER,)
                ).fetchall(),
                _expect_listing(ids),
                0,
                per_op,
            ),
        ],
        "get_snapshot": [
            read_variant(
                DRIVER, lambda: driver.get_snapshot(USER, sid), lambda s: s["available_results"] == names, 0, per_op
            ),
            read_variant(RAW_SQLITE, raw_snapshot, lambda s: s[1] == names, 0, per_op),
        ],
        "get_result (no blob)": [
            read_variant(
                DRIVER, lambda: driver.get_result(USER, sid, "color_image")["width"], lambda w: w == width, 0, per_op
            ),
            read_variant(
                RAW_SQLITE,
                lambda: json.loads(
                    raw.execute(
                        "SELECT record FROM results WHERE user_id = ? AND snapshot_id = ? AND name = ?",
                        (USER, sid, "color_image"),
                    ).fetchone()[0]
                )["value"]["width"],
                lambda w: w == width,
                0,
                per_op,
            ),
        ],
    }
    try:
        for case, variants in cases.items():
            ctx.run_case(
                "metadata",
                "sqlite",
                f"{case}, {count} snapshots",
                lambda v=variants: (v, RAW_SQLITE, lambda: None),
                reps=reps,
                peaks=False,
            )
    finally:
        driver.close()
        raw.close()


# Workload 3: blobs of every size ------------------------------------------------------------------


def blob_sizes(ctx: Context) -> list[int]:
    if ctx.quick:
        return [64 * KiB, 4 * MiB]
    return [64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, 16 * MiB, 64 * MiB]


def _batch(size: int) -> int:
    """Operations per timed sample: small payloads are timed over several operations."""
    return max(1, min(16, 4 * MiB // size))


def _reps(ctx: Context, size: int) -> int:
    if ctx.quick:
        return 2
    return 3 if size >= 16 * MiB else 5


def blobs(ctx: Context) -> None:
    for size in blob_sizes(ctx):
        data = payloads.random_bytes(size, seed=size)
        spec = [ResultSpec("blob", {"n": 1}, Payload.of_bytes(data))]
        extra = {"size": size}
        label = _size_label(size)
        if ctx.server_url:
            _mongo_save_case(ctx, "blob save", label, spec, _batch(size), _reps(ctx, size), extra)
            _mongo_blob_reads(ctx, size, data)
        _sqlite_save_case(ctx, "blob save", label, spec, _batch(size), _reps(ctx, size) + 2, extra)
        _sqlite_blob_reads(ctx, size, data)
    if ctx.quick:
        return
    colour = Payload.of_array(payloads.colour_image(), payloads.colour_npy())
    if ctx.server_url:
        _mongo_blob_reads(ctx, len(colour.stored), colour.stored, colour)
    _sqlite_blob_reads(ctx, len(colour.stored), colour.stored, colour)


def _driver_reads(
    driver: Any, sid: int, data: bytes, same: Callable[[Any], bool], per_op: int
) -> tuple[list[Variant], list[Variant]]:
    """The driver's whole and streamed reads of the payload, each beside the sha256 it checks."""
    digest, size = hashlib.sha256(data).hexdigest(), len(data)
    whole = read_variant(
        DRIVER,
        lambda: driver.get_result(USER, sid, "blob")["data"],
        same,
        size,
        per_op,
        note="result['data'], sha256 checked",
        includes=DIGEST,
    )
    stream = read_variant(
        DRIVER,
        lambda: stream_digest(driver.get_result(USER, sid, "blob").open("data")),
        lambda d: d == digest,
        size,
        per_op,
        note="result.open('data'), 1 MiB reads, sha256 checked",
        includes=DIGEST,
    )
    return [read_digest_variant(DIGEST, data, per_op), whole], [stream, read_digest_variant(DIGEST, data, per_op)]


def _mongo_blob_reads(ctx: Context, size: int, data: bytes, array: Payload | None = None) -> None:
    import gridfs
    from bson import Binary

    name = "bench_read"
    ctx.drop(name)
    driver = ctx.mongo_driver(name)
    value = array.array if array else data
    sid = driver.save_snapshot({"user_id": USER, "datetime": next_datetime(), "blob": {"data": value}})
    db = ctx.client()[name]
    bucket = gridfs.GridFSBucket(db)
    key = {"user_id": USER, "snapshot_id": 1}
    db.raw.insert_one({**key, "data": bucket.upload_from_stream("raw", data)})
    fits = size <= INLINE_DOCUMENT_LIMIT
    if fits:
        db.inline.insert_one({**key, "data": Binary(data)})
    path = payloads.write_file(ctx.tmp / "read" / f"blob-{size}.bin", data)
    db.files.insert_one({**key, "path": str(path)})
    for collection in ("raw", "inline", "files"):
        db[collection].create_index([("user_id", 1), ("snapshot_id", 1)], unique=True)
    per_op, reps = _batch(size), _reps(ctx, size)
    decode: Callable[[bytes], Any] = as_array if array else (lambda b: b)
    same: Callable[[Any], bool] = array.matches if array else (lambda b: b == data)
    case = "colour ndarray (.npy)" if array else _size_label(size)
    digest = hashlib.sha256(data).hexdigest()
    extra = {"size": size, "kind": "ndarray" if array else "bytes"}

    def raw_find(collection: str) -> dict[str, Any]:
        return db[collection].find_one(key)  # type: ignore[no-any-return]

    whole = [
        *_driver_reads(driver, sid, data, same, per_op)[0],
        read_variant(
            RAW,
            lambda: decode(bucket.open_download_stream(raw_find("raw")["data"]).read()),
            same,
            size,
            per_op,
            note="find_one + GridOut.read()" + (" + np.load" if array else ""),
        ),
    ]
    if fits:
        whole.append(read_variant("inline Binary", lambda: decode(raw_find("inline")["data"]), same, size, per_op))
    whole.append(
        read_variant("file + path", lambda: decode(Path(raw_find("files")["path"]).read_bytes()), same, size, per_op)
    )
    stream = [
        *_driver_reads(driver, sid, data, same, per_op)[1],
        read_variant(
            RAW,
            lambda: stream_digest(bucket.open_download_stream(raw_find("raw")["data"])),
            lambda d: d == digest,
            size,
            per_op,
            note="find_one + GridOut, 1 MiB reads",
        ),
        read_variant(
            "file + path",
            lambda: stream_digest(Path(raw_find("files")["path"]).open("rb")),  # noqa: SIM115
            lambda d: d == digest,
            size,
            per_op,
            note="find_one + open(), 1 MiB reads",
        ),
    ]
    try:
        ctx.run_case("blob read whole", "mongodb", case, lambda: (whole, RAW, lambda: None), reps=reps, extra=extra)
        if not array:
            ctx.run_case(
                "blob read stream", "mongodb", case, lambda: (stream, RAW, lambda: None), reps=reps, extra=extra
            )
    finally:
        driver.close()
        ctx.drop(name)
        path.unlink()


def _sqlite_blob_reads(ctx: Context, size: int, data: bytes, array: Payload | None = None) -> None:
    driver = ctx.sqlite_driver("read.db")
    value = array.array if array else data
    sid = driver.save_snapshot({"user_id": USER, "datetime": next_datetime(), "blob": {"data": value}})
    raw = raw_sqlite(ctx.tmp / "read_raw.db")
    raw.execute("CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, data BLOB)")
    raw.execute("INSERT OR REPLACE INTO blobs VALUES (?, ?)", (size, data))
    path = payloads.write_file(ctx.tmp / "read" / f"blob-{size}.bin", data)
    per_op, reps = _batch(size), _reps(ctx, size) + 2
    decode: Callable[[bytes], Any] = as_array if array else (lambda b: b)
    same: Callable[[Any], bool] = array.matches if array else (lambda b: b == data)
    case = "colour ndarray (.npy)" if array else _size_label(size)
    digest = hashlib.sha256(data).hexdigest()
    extra = {"size": size, "kind": "ndarray" if array else "bytes"}

    whole = [
        *_driver_reads(driver, sid, data, same, per_op)[0],
        read_variant(
            PLAIN,
            lambda: decode(path.read_bytes()),
            same,
            size,
            per_op,
            note="read_bytes()" + (" + np.load" if array else ""),
        ),
        read_variant(
            RAW_SQLITE,
            lambda: decode(raw.execute("SELECT data FROM blobs WHERE id = ?", (size,)).fetchone()[0]),
            same,
            size,
            per_op,
            note="SELECT of the BLOB",
        ),
    ]
    stream = [
        *_driver_reads(driver, sid, data, same, per_op)[1],
        read_variant(
            PLAIN,
            lambda: stream_digest(path.open("rb")),
            lambda d: d == digest,
            size,
            per_op,
            note="open(), 1 MiB reads",
        ),
        read_variant(
            RAW_SQLITE,
            lambda: stream_digest(raw.blobopen("blobs", "data", size, readonly=True)),
            lambda d: d == digest,
            size,
            per_op,
            note="Connection.blobopen(), 1 MiB reads",
        ),
    ]
    try:
        ctx.run_case("blob read whole", "sqlite", case, lambda: (whole, PLAIN, lambda: None), reps=reps, extra=extra)
        if not array:
            ctx.run_case(
                "blob read stream", "sqlite", case, lambda: (stream, PLAIN, lambda: None), reps=reps, extra=extra
            )
    finally:
        driver.close()
        raw.close()
        path.unlink()


# Workload 4: growth -------------------------------------------------------------------------------

GROWTH_RESULTS = ["feelings", "pose"]
_GROWTH_EPOCH_MS = 1_600_000_000_000


def growth_sizes(ctx: Context) -> tuple[list[int], list[int]]:
    """(embedded sizes, server sizes): FerretDB decodes every document of a collection for any
    filter not on `_id`, so on it the growth stops at 10,000 (1,000 in --quick)."""
    if ctx.quick:
        return [1_000, 10_000], [100, 1_000]
    return [1_000, 10_000, 100_000], [1_000, 10_000]


def _probe_ids(count: int, probes: int) -> list[int]:
    """`probes` snapshot ids spread evenly over 1..count (the same relative places at every size)."""
    return sorted({1 + (i * (count - 1)) // max(probes - 1, 1) for i in range(probes)})


def _growth_cases(
    ctx: Context, database: str, drivers: dict[int, Any], probes: int, reps: int, extra: dict[str, Any]
) -> None:
    import itertools

    reference = f"{min(drivers):,} snapshots"

    def per_size(make: Callable[[Any, int], tuple[Callable[[], Any], Callable[[Any], bool], int]]) -> list[Variant]:
        variants = []
        for count, driver in drivers.items():
            read, expected, per_op = make(driver, count)
            variants.append(read_variant(f"{count:,} snapshots", read, expected, 0, per_op))
        return variants

    def get_snapshot(driver: Any, count: int) -> tuple[Callable[[], Any], Callable[[Any], bool], int]:
        ids = itertools.cycle(_probe_ids(count, probes))
        return (
            lambda: driver.get_snapshot(USER, next(ids)),
            lambda s: s is not None and s["available_results"] == GROWTH_RESULTS,
            probes,
        )

    def get_result(driver: Any, count: int) -> tuple[Callable[[], Any], Callable[[Any], bool], int]:
        ids = itertools.cycle(_probe_ids(count, probes))
        return (
            lambda: driver.get_result(USER, next(ids), "pose")["translation"],
            lambda t: t == payloads.POSE["translation"],
            probes,
        )

    def get_snapshots(driver: Any, count: int) -> tuple[Callable[[], Any], Callable[[Any], bool], int]:
        return (
            lambda: driver.get_snapshots(USER),
            lambda rows: len(rows) == count and rows[-1]["snapshot_id"] == count,
            1,
        )

    for name, make in [("get_snapshot", get_snapshot), ("get_result", get_result), ("get_snapshots", get_snapshots)]:
        variants = per_size(make)
        ctx.run_case(
            "growth",
            database,
            name,
            lambda v=variants: (v, reference, lambda: None),
            reps=reps,
            peaks=False,
            extra=extra,
        )


def growth(ctx: Context) -> None:
    sqlite_sizes, mongo_sizes = growth_sizes(ctx)
    _sqlite_growth(ctx, sqlite_sizes)
    if ctx.server_url:
        _mongo_growth(ctx, mongo_sizes)


def _sqlite_growth(ctx: Context, sizes: list[int]) -> None:
    import time

    base = ctx.tmp / "growth.db"
    print(f"  growth / sqlite: saving {max(sizes):,} snapshots through the driver ...", flush=True)
    started = time.perf_counter()
    files: dict[int, Path] = {}
    with ctx.sqlite_driver(base.name) as driver:
        count = 0
        for size in sizes:
            while count < size:
                driver.save_snapshot(
                    {
                        "user_id": USER,
                        "datetime": _GROWTH_EPOCH_MS + count * 1000,
                        "pose": payloads.POSE,
                        "feelings": payloads.FEELINGS,
                    }
                )
                count += 1
            files[size] = ctx.tmp / f"growth_{size}.db"
            with sqlite3.connect(base) as source, sqlite3.connect(files[size]) as copy:
                source.backup(copy)
    populate = time.perf_counter() - started
    ctx.extra["growth_sqlite_populate"] = {
        "snapshots": max(sizes),
        "seconds": populate,
        "saves_per_s": max(sizes) / populate,
    }
    drivers = {size: ctx.sqlite_driver(path.name) for size, path in files.items()}
    try:
        ctx.extra["explain_query_plan"] = explain_plans(drivers[max(sizes)], ctx.tmp)
        _growth_cases(
            ctx,
            "sqlite",
            drivers,
            probes=50,
            reps=3 if ctx.quick else 7,
            extra={"populated": "driver save_snapshot, one call per snapshot (pose + feelings)"},
        )
    finally:
        for driver in drivers.values():
            driver.close()


def explain_plans(driver: Any, tmp: Path) -> list[dict[str, Any]]:
    """EXPLAIN QUERY PLAN of every statement the sqlite driver runs for the metadata reads (and a blob read)."""
    calls: list[tuple[str, Any, Callable[[Any], Any]]] = [
        ("get_snapshot", driver, lambda d: d.get_snapshot(USER, 2)),
        ("get_result", driver, lambda d: d.get_result(USER, 2, "pose")),
        ("get_snapshots", driver, lambda d: d.get_snapshots(USER)),
    ]
    small = __import__("brainstorm.database_drivers", fromlist=["connect"]).connect(f"sqlite:///{tmp / 'plans.db'}")
    sid = small.save_snapshot({"user_id": USER, "datetime": 0, "blob": {"data": payloads.random_bytes(3 * MiB)}})
    calls.append(("result.open + read (blob)", small, lambda d: d.get_result(USER, sid, "blob").open("data").read()))
    plans = []
    try:
        for call, target, run in calls:
            statements: list[str] = []
            target._db.connection.set_trace_callback(statements.append)
            try:
                run(target)
            finally:
                target._db.connection.set_trace_callback(None)
            seen: set[str] = set()
            with sqlite3.connect(target.path) as db:
                for sql in statements:
                    shape = re.sub(r"\b\d+\b", "?", sql)
                    if sql.split()[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK") or shape in seen:
                        continue
                    seen.add(shape)
                    plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql)]
                    indexed = all(
                        ("USING" in line and ("INDEX" in line or "PRIMARY KEY" in line))
                        for line in plan
                        if line.startswith(("SEARCH", "SCAN"))
                    )
                    plans.append({"call": call, "sql": sql, "plan": plan, "indexed": indexed})
    finally:
        small.close()
    return plans


def _mongo_growth(ctx: Context, sizes: list[int]) -> None:
    """Each size's database is a copy of a driver-written snapshot, n times, whatever the layout.

    Every document the driver wrote for one snapshot (in any collection) is copied with the
    snapshot's id (and datetime) replaced; documents without a snapshot id (the user's) once. The
    last snapshot of each database is then saved by the driver, which must number it n.
    """
    import datetime as dt

    client = ctx.client()
    template = "bench_growth_template"
    epoch = dt.datetime(2020, 1, 1)
    ctx.drop(template)
    with ctx.mongo_driver(template) as driver:
        driver.save_snapshot({"user_id": USER, "datetime": epoch, "pose": payloads.POSE, "feelings": payloads.FEELINGS})
    layout = {
        name: list(client[template][name].find({}, {"_id": 0}))
        for name in client[template].list_collection_names()
        if not name.startswith(("blobs.", "system."))
    }
    ctx.drop(template)
    drivers: dict[int, Any] = {}
    names = []
    try:
        for size in sizes:
            name = f"bench_growth_{size}"
            names.append(name)
            ctx.drop(name)
            db = client[name]
            for collection, docs in layout.items():
                once = [doc for doc in docs if "snapshot_id" not in doc]
                per = [doc for doc in docs if "snapshot_id" in doc]
                if once:
                    db[collection].insert_many([dict(doc) for doc in once])
                for start in range(1, size, 1000):
                    batch = [
                        {
                            **doc,
                            "snapshot_id": i,
                            **({"datetime": epoch + dt.timedelta(seconds=i)} if "datetime" in doc else {}),
                        }
                        for i in range(start, min(start + 1000, size))
                        for doc in per
                    ]
                    if batch:
                        db[collection].insert_many(batch)
            drivers[size] = ctx.mongo_driver(name)
            last = drivers[size].save_snapshot(
                {
                    "user_id": USER,
                    "datetime": epoch + dt.timedelta(seconds=size),
                    "pose": payloads.POSE,
                    "feelings": payloads.FEELINGS,
                }
            )
            if last != size or drivers[size].get_snapshot(USER, 1)["available_results"] != GROWTH_RESULTS:
                raise AssertionError(f"the copied layout does not read back as the driver's ({last} != {size})")
        _growth_cases(
            ctx,
            "mongodb",
            drivers,
            probes=3,
            reps=2 if ctx.quick else 3,
            extra={
                "populated": "insert_many of copies of a driver-written snapshot, the last snapshot saved by the driver"
            },
        )
    finally:
        for driver in drivers.values():
            driver.close()
        for name in names:
            ctx.drop(name)
