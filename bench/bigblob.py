"""Workload 5: one 1 GiB blob saved from a file object and streamed back, each step in a fresh process.

The parent (`run(ctx)`) starts `python -m bench.bigblob '<json>'` once per variant and step; the
child connects, notes its resident memory, resets the kernel's peak-RSS mark, runs the one step,
and prints its figures as JSON: wall, client CPU, and peak RSS minus RSS before the step. The check
(sha256 of what was read, length and hash of what was written) is not timed.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.measure import memory_status, summary, untimed
from bench.stores import stream_digest

MiB = 1024 * 1024
USER = 42
CHUNK_CURSOR = "raw pymongo, chunk cursor"
DIGEST = "sha256 only"
"""The sha256 of as many bytes, from a 1 MiB buffer: the digest the driver must compute, alone."""
CHUNK_BATCH = 16
"""GridFS chunks per batch for the chunk-cursor read: 4 MiB a batch. (GridOut asks for the server's
default batches; FerretDB v1 then answers a getMore with more than the 48 MB a message may hold, so
neither GridOut nor the driver can read a GridFS file of more than about 90 MiB back from it.)"""


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def child(args: dict[str, Any]) -> dict[str, Any]:
    untimed.reset()
    db, variant, step = args["db"], args["variant"], args["step"]
    source, expected, size = Path(args["source"]), args["sha256"], args["size"]
    result: dict[str, Any] = {"db": db, "variant": variant, "step": step}

    def read_chunks(cursor: Any) -> str:
        digest = hashlib.sha256()
        for chunk in cursor:
            with untimed():
                digest.update(chunk["data"])
        return digest.hexdigest()

    # Set-up: connections and imports, before the baseline RSS is read.
    if variant == "brainstorm":
        import brainstorm.database_drivers as db_drivers

        driver = db_drivers.connect(args["url"])
    elif variant.startswith("raw pymongo"):
        import gridfs
        import pymongo

        client = pymongo.MongoClient(args["url"])
        database = client.get_default_database()
        bucket = gridfs.GridFSBucket(database)
        database.command("ping")
    elif variant == DIGEST:
        buffer = bytes(MiB)
    if step == "read" and variant == "brainstorm":
        stored = driver.get_result(USER, args["ref"], "blob")
    gc.collect()
    rss_before = memory_status("VmRSS")
    reset = _reset_peak()
    wall, cpu = time.perf_counter(), time.process_time()
    if variant == DIGEST:
        sha256, hashed = hashlib.sha256(), 0
        while hashed < size:
            sha256.update(buffer)
            hashed += len(buffer)
        result["ref"] = None
    elif step == "write":
        with source.open("rb") as stream:
            if variant == "brainstorm":
                from brainstorm.database_drivers import Blob

                ref: Any = driver.save_snapshot({"user_id": USER, "datetime": 0, "blob": {"data": Blob(stream)}})
            elif variant == "raw pymongo":
                ref = bucket.upload_from_stream("big.bin", stream)
                database.snapshots.insert_one({"user_id": USER, "snapshot_id": 1, "data": ref})
                ref = str(ref)
            else:
                ref = args["target"]
                with open(ref, "wb") as out:
                    shutil.copyfileobj(stream, out, MiB)
        result["ref"] = ref
    else:
        if variant == "brainstorm":
            digest = stream_digest(stored.open("data"))
        elif variant == "raw pymongo":
            doc = database.snapshots.find_one({"user_id": USER, "snapshot_id": 1})
            digest = stream_digest(bucket.open_download_stream(doc["data"]))
        elif variant == CHUNK_CURSOR:
            doc = database.snapshots.find_one({"user_id": USER, "snapshot_id": 1})
            chunks = database["fs.chunks"].find({"files_id": doc["data"]}, {"_id": 0, "data": 1})
            digest = read_chunks(chunks.sort("n", 1).batch_size(CHUNK_BATCH))
        else:
            digest = stream_digest(open(args["target"], "rb"))  # noqa: SIM115 (stream_digest closes it)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = memory_status("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # The check, untimed.
    if variant == DIGEST:
        verified = hashed == size
    elif step == "read":
        verified = digest == expected
    elif variant == "brainstorm":
        info = driver.get_result(USER, ref, "blob").blobs["data"]
        verified = info["sha256"] == expected and info["length"] == size
    elif variant == "raw pymongo":
        verified = database["fs.files"].find_one({})["length"] == size
    else:
        verified = os.path.getsize(ref) == size
    peak_source = "VmHWM after clear_refs" if reset else "ru_maxrss"
    result.update(wall=wall - untimed.wall, cpu=cpu - untimed.cpu, rss_before=rss_before, peak_rss=peak)
    result.update(peak_added=peak - rss_before, peak_source=peak_source, verified=verified)
    return result


def _spawn(args: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "bench.bigblob", json.dumps(args)], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"bigblob child failed ({args['db']} {args['variant']} {args['step']}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(ctx: Any) -> None:
    """Write and stream back one big blob on each driver and its baseline, each step in a fresh process."""
    from . import payloads
    from .context import with_database

    size = 32 * MiB if ctx.quick else 1024 * MiB
    label, big = f"{size // MiB} MiB from a file object", ctx.tmp / "big"
    print(f"  size: writing the {size // MiB} MiB source file ...", flush=True)
    common = {"source": str(big / "source.bin"), "sha256": payloads.big_file(big / "source.bin", size), "size": size}
    plans: list[tuple[str, str, dict[str, Any]]] = []
    for rep in range(1 if ctx.quick else 2):
        pair = [
            ("sqlite", "brainstorm", {"url": f"sqlite:///{big / f'big-{rep}.db'}"}),
            ("sqlite", "plain file", {"target": str(big / f"copy-{rep}.bin")}),
        ]
        plans += [*(pair if rep % 2 == 0 else pair[::-1]), ("sqlite", DIGEST, {})]
    if ctx.server_url:
        # FerretDB decodes the whole chunks collection for every batch of a GridFS read, so one 16 MiB batch
        # of a 1 GiB file can take longer than the driver's default 15 s reply timeout: allow 5 minutes.
        plans += [
            ("mongodb", "brainstorm", {"url": with_database(ctx.server_url, "bench_big") + "?socketTimeoutMS=300000"}),
            ("mongodb", "raw pymongo", {"url": with_database(ctx.server_url, "bench_big_raw")}),
            ("mongodb", DIGEST, {}),
        ]
        ctx.drop("bench_big")
        ctx.drop("bench_big_raw")
    figures: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for db, variant, where in plans:
        print(f"  size / {db} / {variant}: write and stream back ...", flush=True)
        steps = [("write", variant)] + [("read", variant)] * (variant != DIGEST)
        steps += [("read", CHUNK_CURSOR)] * (variant == "raw pymongo" and not ctx.quick)
        ref = None
        for step, who in steps:
            try:
                done = _spawn({**common, **where, "db": db, "variant": who, "step": step, "ref": ref})
            except RuntimeError as exc:
                reason = str(exc).strip().splitlines()[-1]
                # the driver must work; a baseline the server cannot serve is noted
                (ctx.failures if who == "brainstorm" else ctx.notes).append(f"size / {db} / {who} / {step}: {reason}")
                ctx.rows.append(
                    {
                        "workload": f"size {step}",
                        "db": db,
                        "case": label,
                        "variant": "(failed)",
                        "failed_variant": who,
                        "error": reason,
                    }
                )
                break
            if not done["verified"]:
                ctx.failures.append(f"size / {db} / {who} / {step}: read back differs")
            figures.setdefault((db, who, step), []).append(done)
            ref = done.get("ref", ref)
        # on sqlite: the database, its WAL, the payload files beside it, or the plain copy
        for path in filter(
            None, [where.get("target"), where.get("url", "").removeprefix("sqlite:///")] * (db == "sqlite")
        ):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            shutil.rmtree(f"{path}-blobs", ignore_errors=True)
    if ctx.server_url:
        ctx.drop("bench_big")
        ctx.drop("bench_big_raw")
    if ctx.server_url and ("mongodb", "raw pymongo", "read") not in figures:
        ctx.notes.append(
            "size / mongodb: FerretDB v1 answers GridOut's getMore with more than the 48 MB a message may hold once a "
            "GridFS file exceeds about 90 MiB; the raw chunk cursor (batch_size(16)) is then the read baseline."
        )
    (big / "source.bin").unlink()
    for (db, variant, step), runs in figures.items():
        reference = {"sqlite": "plain file", "mongodb": "raw pymongo"}[db]
        if (db, reference, step) not in figures and (db, CHUNK_CURSOR, step) in figures:
            reference = CHUNK_CURSOR  # GridOut could not read it back from this server
        pairs = lambda key: [(r["wall"], r["cpu"]) for r in figures.get(key, [])]  # noqa: E731
        row = ctx.add_row(
            f"size {step}",
            db,
            label,
            variant,
            pairs((db, variant, step)),
            pairs((db, reference, step)),
            reference,
            nbytes=size,
            size=size,
            peak_rss_added_bytes=max(r["peak_added"] for r in runs),
            verified=all(r["verified"] for r in runs),
        )
        if (
            variant == "brainstorm"
            and (digest := pairs((db, DIGEST, step)))
            and (theirs := pairs((db, reference, step)))
        ):
            row["includes"] = DIGEST  # each run with the digest run of the same round taken out
            for i, metric in enumerate(("wall", "cpu")):
                mine = pairs((db, variant, step))
                less = [(a[i] - d[i]) / b[i] for a, d, b in zip(mine, digest, theirs, strict=False) if b[i] > 0]
                row[f"ratio_{metric}_less_included"] = summary(less) if less else None


if __name__ == "__main__":
    print(json.dumps(child(json.loads(sys.argv[1]))))
