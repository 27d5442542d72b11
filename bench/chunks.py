"""The GridFS chunk size (issue 15): 255 KiB (the spec's default), 1 MiB and 4 MiB, side by side.

On mongodb, one driver per chunk size (`MongodbDriver(chunk_size=...)`) saves a payload of random bytes
(64 MiB; 8 MiB with --quick), reads it back whole, and reads 1 MiB ranges at random offsets as the API
does (a seek, then four 256 KiB reads), the three chunk sizes interleaved repetition by repetition; the
ratios are to 255 KiB. Every read is checked against the bytes saved. The driver's own choice is
`brainstorm.database_drivers._gridfs.CHUNK_SIZE`; the report puts these rows beside it.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from typing import Any

from . import payloads
from .context import USER, Context, next_datetime
from .measure import Variant
from .stores import read_variant

KiB, MiB = 1024, 1024 * 1024
SIZES = {"255 KiB chunks": 255 * KiB, "1 MiB chunks": MiB, "4 MiB chunks": 4 * MiB}
REFERENCE = "255 KiB chunks"
PIECE = 256 * KiB


def run(ctx: Context) -> None:
    if not ctx.server_url:
        return
    data = payloads.random_bytes(8 * MiB if ctx.quick else 64 * MiB, seed=15)
    digest = hashlib.sha256(data).digest()
    label = f"{len(data) // MiB} MiB"
    drivers = {name: ctx.mongo_driver(f"bench_chunks_{size}", chunk_size=size) for name, size in SIZES.items()}
    try:
        stored = {
            name: driver.save_snapshot({"user_id": USER, "datetime": 0, "big": {"data": data}})
            for name, driver in drivers.items()
        }
        reps = 2 if ctx.quick else 5
        ctx.run_case(
            "chunk size",
            "mongodb",
            f"save {label}",
            lambda: (_saves(drivers, data), REFERENCE, None),
            reps=reps,
            peaks=False,
        )
        whole = [
            read_variant(name, lambda d=d, s=stored[name]: _whole(d, s), digest.__eq__, len(data))
            for name, d in drivers.items()
        ]
        ctx.run_case(
            "chunk size", "mongodb", f"read {label} whole", lambda: (whole, REFERENCE, None), reps=reps, peaks=False
        )
        offsets = random.Random(15).sample(range(len(data) - MiB), 5 if ctx.quick else 20)
        ranged = [_ranges(name, driver, stored[name], data, offsets) for name, driver in drivers.items()]
        ctx.run_case(
            "chunk size",
            "mongodb",
            "1 MiB range, random offsets",
            lambda: (ranged, REFERENCE, None),
            reps=len(offsets),
            peaks=False,
        )
    finally:
        for size, driver in zip(SIZES.values(), drivers.values(), strict=True):
            driver.close()
            ctx.drop(f"bench_chunks_{size}")


def _saves(drivers: dict[str, Any], data: bytes) -> list[Variant]:
    """Each driver saves the payload as a new snapshot; afterwards each is read back, checked and deleted."""

    def variant(name: str, driver: Any) -> Variant:
        saved: list[int] = []

        def op() -> None:
            saved.append(driver.save_snapshot({"user_id": USER, "datetime": next_datetime(), "big": {"data": data}}))

        def after() -> None:
            for snapshot_id in saved:
                if _whole(driver, snapshot_id) != hashlib.sha256(data).digest():
                    raise AssertionError(f"{name}: the payload saved does not read back")
                driver.delete_snapshot(USER, snapshot_id)
            saved.clear()

        return Variant(name, op, nbytes=len(data), after=after)

    return [variant(name, driver) for name, driver in drivers.items()]


def _whole(driver: Any, snapshot_id: int) -> bytes:
    """The sha256 of the payload read through to its end in 1 MiB reads (the driver checks it too)."""
    result, digest = driver.get_result(USER, snapshot_id, "big"), hashlib.sha256()
    with result.open("data") as stream:
        for piece in iter(lambda: stream.read(MiB), b""):
            digest.update(piece)
    return digest.digest()


def _ranges(name: str, driver: Any, snapshot_id: int, data: bytes, offsets: list[int]) -> Variant:
    firsts = itertools.cycle(offsets)

    def read() -> tuple[int, bytes]:
        first, result = next(firsts), driver.get_result(USER, snapshot_id, "big")
        with result.open("data") as stream:
            stream.seek(first)
            return first, b"".join(stream.read(PIECE) for _ in range(MiB // PIECE))

    return read_variant(name, read, lambda got: got[1] == data[got[0] : got[0] + MiB], MiB)
