"""Workload 6 (issue 10): payloads served over HTTP by `brainstorm serve`, beside the same bytes served without it.

On each driver one payload of random bytes (64 MiB; 8 MiB in --quick), saved through the driver, is
downloaded with httpx (bytes counted, not kept) from a real `brainstorm serve` process and from the
reference: a static file server of the same bytes on disk (uvicorn + Starlette's StaticFiles, the
same HTTP stack, so the ratio is the storage's cost; `python -m bench.serving DIR`); on mongodb also
read with a plain `gridfs.GridFSBucket`. Then 16 downloads at once (with each server's peak-RSS
growth), 1 MiB range requests, and on mongodb the chunks a 1 MiB range read through the driver fetches.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gridfs
import httpx
from pymongo import monitoring

from tools.http_server import serving_process

from . import payloads
from .context import Context, next_datetime, with_database
from .measure import CommandCounter, Variant, memory_status, ratios
from .report import ratio, seconds
from .stores import read_variant

MiB = 1024 * 1024
PIECE = 256 * 1024  # what the API reads from the store and sends at a time
API, STATIC, BUCKET = "brainstorm serve", "static files", "GridFSBucket"
PAYLOAD, CLIENTS = "users/1/snapshots/1/big/data", 16


@contextlib.contextmanager
def _server(log: Path, *module_args: str) -> Iterator[tuple[str, int]]:
    """`python -m <module_args>` (printing `Serving ... at URL` as `brainstorm serve` does), once it
    answers: (URL, pid)."""
    with serving_process(module_args, log) as (url, process):
        yield url, process.pid


def _count(pieces: Iterable[bytes], digest: Any = None) -> int:
    """How many bytes `pieces` hold, dropped as they come (or hashed into `digest`)."""
    got = 0
    for piece in pieces:
        got += len(piece)
        if digest is not None:
            digest.update(piece)
    return got


def _get(client: httpx.Client, url: str, first: int | None = None, digest: Any = None) -> int:
    """GET `url` whole (or the 1 MiB from `first` on, with a Range header); how many bytes came."""
    headers = {"Range": f"bytes={first}-{first + MiB - 1}"} if first is not None else {}
    with client.stream("GET", url, headers=headers) as response:
        response.raise_for_status()
        return _count(response.iter_raw(), digest)


def _variant(name: str, fetch: Callable[..., int], data: bytes, offsets: list[int] | None = None) -> Variant:
    """`fetch(first, digest)` of the whole payload (or of 1 MiB from each of `offsets` in turn): every
    repetition's length is checked, and the bytes of one more fetch (untimed)."""
    firsts, nbytes = itertools.cycle(offsets or [None]), MiB if offsets else len(data)
    variant = read_variant(name, lambda: fetch(next(firsts)), nbytes.__eq__, nbytes)

    def verify() -> None:
        first, digest = offsets[0] if offsets else None, hashlib.sha256()
        fetch(first, digest)
        if digest.digest() != hashlib.sha256(data if first is None else data[first : first + MiB]).digest():
            raise AssertionError(f"{name} gave other bytes than were saved")

    variant.verify = verify
    return variant


def _case(ctx: Context, db: str, case: str, variants: list[Variant], reps: int, servers: Any = None) -> Any:
    """Run the variants against the static files, one row each. HTTP rows count no commands (the server
    sends them); with `servers` (variant: pid), they get that server's peak-RSS growth over the case."""
    before = {name: memory_status("VmHWM", pid) for name, pid in (servers or {}).items()}
    samples = ctx.run_case("serve", db, case, lambda: (variants, STATIC, lambda: None), reps=reps, peaks=False)
    for row in ctx.rows[-len(variants) :] if samples else []:
        row["cmds_per_op"] = row["cmds_per_op"] if row["variant"] == BUCKET else None
        if row["variant"] in before:
            row["peak_rss_added_bytes"] = memory_status("VmHWM", servers[row["variant"]]) - before[row["variant"]]
    return samples


def run(ctx: Context) -> None:
    data = payloads.random_bytes(8 * MiB if ctx.quick else 64 * MiB, seed=10)
    payloads.write_file(ctx.tmp / "serve" / "big.bin", data)
    databases = {"sqlite": f"sqlite:///{ctx.tmp / 'serve/serve.db'}"}
    if ctx.server_url:
        ctx.drop("bench_serve")
        # 16 readers of one GridFS file on FerretDB can wait longer than the driver's default 15 s for a reply
        databases["mongodb"] = with_database(ctx.server_url, "bench_serve") + "?socketTimeoutMS=300000"
    for db, url in databases.items():
        try:
            saver = ctx.mongo_driver("bench_serve") if db == "mongodb" else ctx.sqlite_driver("serve/serve.db")
            with saver as driver:  # monitored: the index check learns the indexes it creates
                driver.save_snapshot({"user_id": 1, "datetime": next_datetime(), "big": {"data": data}})
            _serve(ctx, db, url, data)
        except Exception as exc:  # recorded, reported, and the run's exit status says so
            ctx.failures.append(f"serve / {db}: {exc!r}")
        if db == "mongodb":
            ctx.drop("bench_serve")
    ctx.notes.append(
        "serve: an HTTP row's memory is its server's peak-RSS growth over the case (VmHWM after - before); the "
        "server's commands are not counted. The static file server sends the API's 256 KiB pieces (Starlette's "
        "default is 64 KiB). The GridFSBucket baseline finds the payload's file by its GridFS metadata "
        "(user_id, result_name), the layout the mongodb driver documents, not through the driver."
    )


def _serve(ctx: Context, db: str, url: str, data: bytes) -> None:
    """One driver's cases, its payload saved, against a `brainstorm serve` and a static file server."""
    label, where = f"{len(data) // MiB} MiB", ctx.tmp / "serve"
    serve = ["brainstorm.cli", "serve", "-d", url, "--port", "0", "--log-level", "warning"]
    with (
        _server(where / f"api-{db}.log", *serve) as (api_url, api_pid),
        _server(where / f"static-{db}.log", "bench.serving", str(where)) as (static_url, static_pid),
        httpx.Client(timeout=300, limits=httpx.Limits(max_connections=CLIENTS)) as client,
    ):
        urls = {API: api_url + PAYLOAD, STATIC: static_url + "big.bin"}
        fetchers = {name: functools.partial(_get, client, u) for name, u in urls.items()}
        whole = [_variant(name, fetch, data) for name, fetch in fetchers.items()]
        if db == "mongodb":
            fetchers_of_bucket, chunk_size = _bucket_variant(ctx, data)
            whole.append(_variant(BUCKET, fetchers_of_bucket, data))
        if samples := _case(ctx, db, f"download {label}", whole, 2 if ctx.quick else 5):
            # throughput ratios: the other's time over the API's, repetition by repetition
            over = {other: ratios(samples, other, API, "wall") for other in (STATIC, BUCKET) if other in samples}
            ctx.extra[f"serve_{db}_api_throughput_over"] = over
            shown = ", ".join(f"API / {other} {ratio(r)}" for other, r in over.items())
            ctx.notes.append(f"serve / {db}: {label} download throughput, {shown}, in the same run.")
        with ThreadPoolExecutor(CLIENTS) as pool:  # one pool for every repetition: its threads are warm
            nbytes = CLIENTS * len(data)
            together = [
                read_variant(name, lambda f=f: sum(pool.map(lambda _: f(), range(CLIENTS))), nbytes.__eq__, nbytes)
                for name, f in fetchers.items()
            ]
            servers = {API: api_pid, STATIC: static_pid}
            _case(ctx, db, f"{CLIENTS} x download {label}", together, 1 if ctx.quick else 2, servers)
        offsets = random.Random(20).sample(range(len(data) - MiB), 5 if ctx.quick else 20)
        ranged = [_variant(name, fetch, data, offsets) for name, fetch in fetchers.items()]
        if db == "mongodb":
            ranged.append(_variant(BUCKET, fetchers_of_bucket, data, offsets))
        if (ranges := _case(ctx, db, "1 MiB range, random offsets", ranged, len(offsets))) and BUCKET in ranges:
            over = ctx.extra["serve_mongodb_range_time_over_bucket"] = ratios(ranges, API, BUCKET, "wall")
            ctx.notes.append(
                f"serve / mongodb: a 1 MiB range through the API took {ratio(over)} the time of the same range "
                "read with a plain GridFSBucket (seek, four 256 KiB reads), repetition by repetition."
            )
    if db == "mongodb":
        chunks = ctx.extra["serve_mongodb_range_chunks"] = _chunks_per_range(ctx, url, data, chunk_size)
        cell = {k: f"{max(v)} / {statistics.mean(v):.1f}" for k, v in chunks.items() if not k.endswith(" s")}
        ctx.notes.append(
            "serve / mongodb: a 1 MiB range read through the driver (seek, then 4 x 256 KiB reads as the API does, "
            f"or 1 x 1 MiB), at 10 unaligned offsets, fetched {cell['4 x 256 KiB']} and {cell['1 x 1 MiB']} "
            "chunks (max / mean, counted in the server's find/getMore replies on blobs.chunks), where "
            f"{cell['covering']} chunks cover the range; the 4 reads took "
            f"{seconds(statistics.median(chunks['4 x 256 KiB s']))} (median, wall clock)."
        )


def _bucket_variant(ctx: Context, data: bytes) -> tuple[Callable[..., int], int]:
    """A plain GridFSBucket read of the payload's file (whole, or a range: `fetch(first, digest)`), found
    by the GridFS metadata the mongodb driver documents (not through the driver), and the file's chunk size."""
    database = ctx.client()["bench_serve"]
    file = database["blobs.files"].find_one({"metadata.user_id": 1, "metadata.result_name": "big"})
    bucket = gridfs.GridFSBucket(database, bucket_name="blobs")

    def fetch(first: int | None = None, digest: Any = None) -> int:
        """The whole file in 256 KiB reads, or (from `first`) 1 MiB as four of them, as the API reads."""
        with bucket.open_download_stream(file["_id"]) as stream:
            if first is None:
                return _count(iter(lambda: stream.read(PIECE), b""), digest)
            stream.seek(first)
            return _count((stream.read(PIECE) for _ in range(MiB // PIECE)), digest)

    return fetch, file["chunkSize"]


class ChunkReplies(CommandCounter):
    """Also counts the chunk documents in the server's find/getMore replies on `blobs.chunks`."""

    chunks = 0

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        cursor = event.reply.get("cursor") or {}
        if event.command_name in ("find", "getMore") and str(cursor.get("ns", "")).endswith(".blobs.chunks"):
            self.chunks += len(cursor.get("firstBatch") or cursor.get("nextBatch") or [])


def _chunks_per_range(ctx: Context, url: str, data: bytes, chunk_size: int) -> dict[str, list[Any]]:
    """The chunks fetched by (and the time of) 1 MiB range reads through the driver, as the API's 4 x 256
    KiB reads and as one read, at 10 unaligned offsets; and the chunks covering each range. Its queries are
    checked for index use with the run's others."""
    import brainstorm.database_drivers as db_drivers

    offsets = [12_345 + k * (len(data) - 2 * MiB) // 9 for k in range(10)]
    figures: dict[str, list[Any]] = {"covering": [(a + MiB - 1) // chunk_size - a // chunk_size + 1 for a in offsets]}
    listener = ChunkReplies()
    with db_drivers.connect(url, client_options={"event_listeners": [listener, ctx.recorder]}) as driver:
        result = driver.get_result(1, 1, "big")
        assert result is not None
        for reads, sizes in (("4 x 256 KiB", [PIECE] * 4), ("1 x 1 MiB", [MiB])):
            fetched, took = figures.setdefault(reads, []), figures.setdefault(reads + " s", [])
            for first in offsets:
                with result.open("data") as stream:
                    stream.seek(first)
                    listener.chunks, began = 0, time.perf_counter()
                    got = b"".join(stream.read(n) for n in sizes)
                    took.append(time.perf_counter() - began)
                    fetched.append(listener.chunks)
                if got != data[first : first + MiB]:
                    raise AssertionError(f"the driver's range read at {first} differs from what was saved")
    return figures


if __name__ == "__main__":  # the static file server: `python -m bench.serving DIR`
    import socket

    import uvicorn
    from starlette.responses import FileResponse
    from starlette.staticfiles import StaticFiles

    FileResponse.chunk_size = PIECE  # Starlette reads 64 KiB at a time: send the API's pieces, as it does
    listening = socket.create_server(("127.0.0.1", 0))
    print(f"Serving {sys.argv[1]} at http://127.0.0.1:{listening.getsockname()[1]}/ (static)", flush=True)
    uvicorn.Server(uvicorn.Config(StaticFiles(directory=sys.argv[1]), log_level="warning")).run(sockets=[listening])
