"""Workload `queue` (issue 16): the saver on a RabbitMQ queue, beside `import` of the same messages.

On a private RabbitMQ node, for each driver and `--jobs 1, 2, 4`: `import --jobs N` of the pipeline
directory, and `run --jobs N` consuming the same messages, published beforehand (by `publish_directory`,
the code `python -m brainstorm.saver publish` runs) to a queue of that run's own; both a fresh process
into an empty database, timed from its start to its last save (start-up included, publishing not).
Beside them, the raw loop: one pika consumer, prefetch 1, saving each message through a `Saver` in its
callback and acking it (`python -m bench.queueing DATABASE_URL MQ_URL QUEUE COUNT DIR`). The target: the
queue costs at most 10% over `import` at the same `--jobs`.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from .context import Context, with_database
from .importing import ROOT, _check, _timed, dataset

RAW_LOOP = "raw pika loop"
JOBS = (1, 2, 4)


def run(ctx: Context) -> None:
    from brainstorm.saver import find_messages
    from tools.rabbitmq_server import running_rabbitmq

    dataset(ctx.tmp / "queue", 1 if ctx.quick else 2)
    reps = 1 if ctx.quick else 2
    with running_rabbitmq() as broker:
        for db in ["mongodb", "sqlite"] if ctx.server_url else ["sqlite"]:
            directory = ctx.tmp / "queue" / ("0" if db == "mongodb" else "")
            count = len(find_messages(directory))
            nbytes = sum(p.stat().st_size for p in directory.rglob("*") if p.suffix in (".png", ".npy"))
            case = f"{count} messages, {nbytes / 1e6:.0f} MB"
            figures: dict[str, list[tuple[float, float]]] = {}
            for rep in range(reps):
                for variant in [*(f"{how} --jobs {n}" for n in JOBS for how in ("import", "run")), RAW_LOOP]:
                    url = _fresh(ctx, db, f"{rep}-{variant.replace(' ', '')}")
                    try:
                        figures.setdefault(variant, []).append(_one(variant, url, broker.url, directory, count))
                        _check(url, count, raw=False)
                    except Exception as exc:  # recorded, reported, and the run's exit status says so
                        ctx.failures.append(f"queue / {db} / {variant}: {exc}")
                        ctx.rows.append(
                            {"workload": "queue", "db": db, "case": case, "variant": "(failed)", "error": str(exc)}
                        )
            for variant, runs in figures.items():
                reference = "import --jobs " + variant.split()[-1] if variant.startswith("run") else "import --jobs 1"
                row = ctx.add_row("queue", db, case, variant, runs, figures.get(reference), reference, nbytes=nbytes)
                row["messages_per_s"] = count / row["wall_s"]["median"]
            if db == "mongodb":
                ctx.drop("bench_queue")
            rates = ", ".join(
                f"{r['variant']} {r['messages_per_s']:.0f} msg/s ({r['mb_per_s_wall']:.1f} MB/s)"
                for r in ctx.rows
                if r.get("messages_per_s") and r["db"] == db and r["workload"] == "queue"
            )
            ctx.notes.append(f"queue / {db}: median, a fresh process each, start-up included: {rates}.")


def _fresh(ctx: Context, db: str, name: str) -> str:
    if db == "mongodb":
        ctx.drop("bench_queue")
        return with_database(ctx.server_url or "", "bench_queue")
    return f"sqlite:///{ctx.tmp / f'queue-{name}.db'}"


def _one(variant: str, url: str, mq_url: str, directory: Path, count: int) -> tuple[float, float]:
    """(wall, CPU) of one variant saving the `count` messages of `directory`."""
    saver = [sys.executable, "-m", "brainstorm.saver"]
    if variant.startswith("import"):
        return _timed([*saver, "import", "--no-progress", "-d", url, "--jobs", variant.split()[-1], str(directory)])
    names = _filled(mq_url, directory)
    if variant == RAW_LOOP:
        return _timed([sys.executable, "-m", "bench.queueing", url, mq_url, names[3], str(count), str(directory)])
    command = [*saver, "run", "-d", url, "--jobs", variant.split()[-1], "--allow-path", str(directory), *names, mq_url]
    return _timed_until_saved(command, count)


def _filled(mq_url: str, directory: Path) -> list[str]:
    """`--exchange X --queue Q` of a new topology holding every message of `directory`."""
    import brainstorm.mq_drivers as mq_drivers
    from brainstorm.mq_drivers.rabbitmq import declare
    from brainstorm.saver import publish_directory

    tag = uuid.uuid4().hex[:8]
    topology = mq_drivers.Topology(exchange=f"bench-{tag}", queue=f"bench-{tag}")
    with mq_drivers.connect(mq_url, topology) as queue:
        declare(mq_url, topology)
        summary = publish_directory(queue, directory, report=print)
    if summary.failed:
        raise RuntimeError(f"publishing failed: {summary.failed[:3]}")
    return ["--exchange", topology.exchange, "--queue", topology.queue]


def _timed_until_saved(command: list[str], count: int) -> tuple[float, float]:
    """Wall time from the process's start to its `count`-th save; CPU of the whole process (stopped by
    SIGTERM right after)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert process.stderr is not None
    saved, tail = 0, []
    for line in process.stderr:
        tail = [*tail[-20:], line]
        saved += line.split(" ", 2)[1:2] == ["saved"]
        if saved == count:
            break
    wall = time.perf_counter() - began
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    if saved != count:
        raise RuntimeError(f"{saved} of {count} saved: {''.join(tail)[-500:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def raw_consumer(url: str, mq_url: str, queue: str, count: int, directory: Path) -> None:
    """The baseline: pika's plain consumer, saving in its callback and acking, until `count` messages."""
    import pika

    from brainstorm.saver import Saver

    saved = 0
    with Saver(url) as saver, pika.BlockingConnection(pika.URLParameters(mq_url)) as connection:
        channel = connection.channel()
        channel.basic_qos(prefetch_count=1)

        def on_message(channel: Any, method: Any, properties: Any, body: bytes) -> None:
            nonlocal saved
            saver.save_message(body, allowed_dirs=[directory])
            channel.basic_ack(method.delivery_tag)
            saved += 1
            if saved == count:
                channel.stop_consuming()

        channel.basic_consume(queue, on_message)
        channel.start_consuming()


if __name__ == "__main__":
    raw_consumer(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5]))
