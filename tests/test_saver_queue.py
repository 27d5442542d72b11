"""`python -m brainstorm.saver run | run-saver | publish` against a real RabbitMQ node and real databases.

Every test runs savers as a user runs them (processes, signals, exit statuses, stderr) and looks at the
outcome through the broker (queue depths, the dead-letter queue and its headers) and the database. No
mock of the broker: faults are the broker's own (a restart, SIGSTOP) and the database's (a FerretDB front
killed or frozen under the saver).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pika
import pytest

import brainstorm.database_drivers as db_drivers
import brainstorm.mq_drivers as mq_drivers
from brainstorm.mq_drivers.rabbitmq import HEARTBEAT_BOUND, REASON_HEADER
from brainstorm.saver._publisher import message_for_queue
from tests.conftest import ROOT, run_module
from tests.queue_helpers import SaverProcess, broker, names, option, queue_depth, take_all, wait_until
from tests.test_saver_jobs import USER, WHEN_MS, dump, write_message
from tools.ferretdb_server import Storage, documentdb_storage, ferretdb_process
from tools.rabbitmq_server import Broker

__all__ = ["broker"]  # the fixture, imported for this module's tests


def topology(args: list[str]) -> mq_drivers.Topology:
    return mq_drivers.Topology(exchange=option(args, "--exchange"), queue=option(args, "--queue"))


def run(
    database_url: str, broker: Broker, topology_args: list[str], *extra: str | Path, cwd: Path = ROOT
) -> SaverProcess:
    """A `run` saver on its own topology, started and consuming (its queue declared)."""
    process = SaverProcess("run", "-d", database_url, *topology_args, *extra, broker.url, cwd=cwd)
    process.wait_for("consuming queue")
    return process


def publish(broker: Broker, topology_args: list[str], directory: Path) -> str:
    process = run_module("brainstorm.saver", "publish", *topology_args, broker.url, directory, env=dict(os.environ))
    assert process.returncode == 0, process.stderr
    return process.stdout


def publish_raw(broker: Broker, topology_args: list[str], routing_key: str, body: bytes) -> None:
    with mq_drivers.connect(broker.url, topology(topology_args)) as queue:
        queue.publish(routing_key, body)


def settled(broker: Broker, topology_args: list[str]) -> bool:
    """Nothing ready in the saver's queue, and nothing unacked (counted by asking for the queue's messages)."""
    return queue_depth(broker, option(topology_args, "--queue"))[0] == 0


def dead_letters(broker: Broker, topology_args: list[str]) -> list[tuple[dict[str, Any], bytes]]:
    return take_all(broker, option(topology_args, "--queue") + ".dead")


@pytest.fixture
def messages(tmp_path: Path) -> Path:
    """Six messages of two users, half of them with a payload file beside them."""
    directory = tmp_path / "messages"
    rng = np.random.default_rng(5)
    for number in range(6):
        result: dict[str, Any] = {"n": number}
        if number % 2:
            (directory / f"p{number}.bin").parent.mkdir(parents=True, exist_ok=True)
            (directory / f"p{number}.bin").write_bytes(rng.bytes(30_000))
            result["path"] = f"p{number}.bin"
        write_message(directory / f"m{number}.json", "pose" if number < 3 else "feelings", result, WHEN_MS + number % 3)
    return directory


def imported(directory: Path, tmp_path: Path) -> Any:
    """What `import` of the same messages saves (the reference every queue test compares with)."""
    url = f"sqlite:///{tmp_path / f'import-{time.monotonic_ns()}.db'}"
    process = run_module(
        "brainstorm.saver", "import", "--no-progress", directory, env={**os.environ, "BRAINSTORM_DATABASE_URL": url}
    )
    assert process.returncode == 0, process.stderr
    return dump(url)


def test_run_saver_in_the_original_form_saves_what_import_saves(
    broker: Broker, driver_url: str, messages: Path, tmp_path: Path
) -> None:
    """`run-saver DATABASE_URL MQ_URL` on the original topology (topic `data`, queue `save` bound with #)."""
    saver = SaverProcess("run-saver", driver_url, broker.url, cwd=messages.parent)
    saver.wait_for("consuming queue")
    try:
        with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
            channel = connection.channel()
            channel.confirm_delivery()
            for path in sorted(messages.glob("*.json")):  # as a parser publishes: to `data`, its name as key
                key = next(k for k in json.loads(path.read_text()) if k not in ("user", "datetime"))
                body = path.read_text().replace('"path": "', f'"path": "{messages.name}/')
                channel.basic_publish("data", key, body.encode(), pika.BasicProperties(delivery_mode=2), mandatory=True)
        saver.wait_for("saved ", times=6)
    finally:
        status, _, stderr = saver.stop()
    assert status == 0, stderr
    assert "stopped; consumed 6, saved 6 (6 new, 0 updated, 0 unchanged), redelivered 0, dead-lettered 0" in stderr
    assert settled(broker, ["--queue", "save"])
    assert dump(driver_url) == imported(messages, tmp_path)


def test_publish_then_run_with_jobs_saves_what_import_saves_and_again_nothing_new(
    broker: Broker, driver_url: str, messages: Path, tmp_path: Path
) -> None:
    names_ = names()
    saver = run(driver_url, broker, names_, "--jobs", "3", "--allow-path", messages)
    try:
        assert publish(broker, names_, messages).startswith("published 6 messages")
        saver.wait_for("saved ", times=6)
        publish(broker, names_, messages)  # the same messages again: replayed, nothing new
        saver.wait_for("saved ", times=12)
    finally:
        status, _, stderr = saver.stop()
    assert status == 0, stderr
    # A job learns of a snapshot another job created when it next reads the user's snapshots, so a replay
    # may count as "new" there; the database says what was stored.
    assert "consumed 12, saved 12" in stderr and "updated" not in stderr.replace("0 updated", "")
    assert dump(driver_url) == imported(messages, tmp_path)


def test_publishing_with_no_queue_bound_fails_loudly(broker: Broker, messages: Path) -> None:
    process = run_module("brainstorm.saver", "publish", *names(), broker.url, messages, env=dict(os.environ))
    assert process.returncode == 1
    [line] = process.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "no queue takes routing key 'pose'" in line, line


POISON = [
    ("not JSON", lambda d: b"{not json", "not valid JSON"),
    ("a refused value", lambda d: _message({"x": float("nan")}), "finite"),
    (
        "an ISO datetime",
        lambda d: json.dumps({"user": USER, "datetime": "2019-12-04", "pose": {}}).encode(),
        '{"$date"',
    ),
    (
        "two results",
        lambda d: json.dumps({"user": USER, "datetime": 1, "pose": {}, "feelings": {}}).encode(),
        "holds 'pose', 'feelings'",
    ),
    ("a missing payload file", lambda d: _message({"path": str(d / "gone.bin")}), "gone.bin"),
    ("a file outside the allowed directories", lambda d: _message({"path": "/etc/hostname"}), "/etc/hostname"),
    ("a result too big", lambda d: _message({f"k{i}": i for i in range(10_001)}), "10,001 keys"),
    (
        "5,000 levels deep",
        lambda d: b'{"user": {}, "datetime": 1, "pose": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "100 levels deep",
    ),
]


def _message(result: Any) -> bytes:
    return json.dumps({"user": USER, "datetime": WHEN_MS, "pose": result}).encode()


def test_poison_messages_go_to_the_dead_letter_queue_with_the_reason_and_the_saver_goes_on(
    broker: Broker, driver_url: str, tmp_path: Path, messages: Path
) -> None:
    names_ = names()
    saver = run(driver_url, broker, names_, cwd=tmp_path)
    try:
        for _, body, _ in POISON:
            publish_raw(broker, names_, "pose", body(tmp_path))
        publish(broker, names_, messages)  # good ones after the bad ones
        saver.wait_for("saved ", times=6)
        saver.wait_for("dead-lettered", times=len(POISON))
    finally:
        status, _, stderr = saver.stop()
    assert status == 0, stderr
    dead = dead_letters(broker, names_)
    assert [body for _, body in dead] == [body(tmp_path) for _, body, _ in POISON]
    for (case, _, reason), (headers, _) in zip(POISON, dead, strict=True):
        assert reason in str(headers[REASON_HEADER]), (case, headers)
        assert headers["x-brainstorm-routing-key"] == "pose"
    assert "Traceback" not in stderr
    assert dump(driver_url) == imported(messages, tmp_path)


class Database:
    """A MongoDB-protocol server of one test's own, whose front the test may kill or freeze."""

    def __init__(self, storage: Storage, stack: contextlib.ExitStack) -> None:
        self._storage, self._stack = storage, stack
        self.url, self.process = stack.enter_context(ferretdb_process(storage))
        self._port = int(self.url.rsplit(":", 1)[1])

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """The front killed for the duration, then started again on the same port (the data kept)."""
        self.process.kill()
        self.process.wait()
        try:
            yield
        finally:
            self.url, self.process = self._stack.enter_context(ferretdb_process(self._storage, port=self._port))

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """The front stopped (SIGSTOP) for the duration: connections open, nothing answered."""
        os.kill(self.process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture
def ferretdb() -> Iterator[Database]:
    with documentdb_storage() as storage, contextlib.ExitStack() as stack:
        yield Database(storage, stack)


def test_a_database_outage_is_waited_out_holding_the_messages_with_nothing_dead_lettered(
    broker: Broker, ferretdb: Database, messages: Path, tmp_path: Path
) -> None:
    url = f"{ferretdb.url}/outage?serverSelectionTimeoutMS=1000"
    names_ = names()
    with db_drivers.connect(url):  # the database exists before the outage
        pass
    saver = run(url, broker, names_, "--jobs", "2", "--allow-path", messages)
    try:
        with ferretdb.down():
            publish(broker, names_, messages)
            saver.wait_for("database unavailable", times=4)
            assert queue_depth(broker, option(names_, "--queue"))[0] == 6 - 2 * 2, "two held per job, the rest ready"
        saver.wait_for("saved ", times=6, timeout=90)
    finally:
        status, _, stderr = saver.stop()
    assert status == 0, stderr
    assert "dead-lettered 0" in stderr and dead_letters(broker, names_) == []
    assert dump(url) == imported(messages, tmp_path)


def test_a_message_failing_transiently_on_every_delivery_is_dead_lettered_after_max_attempts(
    broker: Broker, ferretdb: Database, messages: Path
) -> None:
    url = f"{ferretdb.url}/forever?serverSelectionTimeoutMS=500"
    names_ = names()
    with db_drivers.connect(url):
        pass
    saver = run(url, broker, names_, "--retry-seconds", "0", "--max-attempts", "3", "--allow-path", messages)
    try:
        with ferretdb.down():
            publish_raw(broker, names_, "pose", message_for_queue(messages / "m0.json")[1])
            saver.wait_for("dead-lettered", timeout=60)
    finally:
        status, _, stderr = saver.stop()
    assert status == 0, stderr
    assert saver.count("released") == 2, stderr
    [(headers, _)] = dead_letters(broker, names_)
    assert "failed on 3 deliveries, the database unavailable" in str(headers[REASON_HEADER])


def test_a_broker_restart_and_a_broker_away_are_reconnected_with_nothing_lost(
    broker: Broker, driver_url: str, messages: Path, tmp_path: Path
) -> None:
    names_ = names()
    saver = run(driver_url, broker, names_, "--allow-path", messages)
    try:
        broker.stop()
        saver.wait_for("lost ")
        saver.wait_for("cannot reach the broker", timeout=30)  # and tries again, with backoff
        broker.start()
        saver.wait_for("consuming queue", times=2, timeout=60)
        publish(broker, names_, messages)
        saver.wait_for("saved ", times=6)
        broker.restart()  # the queue and the messages in it are durable: publish, then restart
        saver.wait_for("consuming queue", times=3, timeout=60)
    finally:
        status, _, stderr = saver.stop()
    assert status == 0, stderr
    assert dump(driver_url) == imported(messages, tmp_path)


def test_a_frozen_broker_is_noticed_within_the_heartbeat_bound_and_the_saver_carries_on(
    broker: Broker, tmp_path: Path, messages: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    names_ = names()
    heartbeat = 2
    saver = SaverProcess("run", "-d", url, *names_, "--allow-path", messages, f"{broker.url}?heartbeat={heartbeat}")
    saver.wait_for("consuming queue")
    try:
        with broker.frozen():
            frozen = time.monotonic()
            saver.wait_for("lost ", timeout=HEARTBEAT_BOUND(heartbeat) + 10)
            noticed = time.monotonic() - frozen
            assert saver.process.poll() is None
        saver.wait_for("consuming queue", times=2, timeout=60)
        publish(broker, names_, messages)
        saver.wait_for("saved ", times=6)
    finally:
        status, _, stderr = saver.stop()
    assert status == 0, stderr
    assert noticed <= HEARTBEAT_BOUND(heartbeat) + 1, (noticed, stderr)


def test_a_save_far_longer_than_the_heartbeat_keeps_the_connection(
    broker: Broker, ferretdb: Database, tmp_path: Path
) -> None:
    """The saves run off the connection's thread: a 64 MiB save held up 8 s by a frozen database, with a
    1 s heartbeat, is acked on the connection it came on, once."""
    url = f"{ferretdb.url}/long"
    names_ = names()
    (tmp_path / "big.bin").write_bytes(os.urandom(64 * 1024 * 1024))
    write_message(tmp_path / "big.json", "depth", {"path": str(tmp_path / "big.bin")})
    saver = SaverProcess("run", "-d", url, *names_, "--allow-path", tmp_path, f"{broker.url}?heartbeat=1")
    saver.wait_for("consuming queue")
    try:
        with ferretdb.frozen():
            publish_raw(broker, names_, "depth", (tmp_path / "big.json").read_bytes())
            time.sleep(8)
        saver.wait_for("saved depth", timeout=120)
    finally:
        status, _, stderr = saver.stop()
    assert status == 0, stderr
    assert saver.count("connected to") == 1 and "lost " not in stderr, stderr
    assert "redelivered 0" in stderr and settled(broker, names_)


@pytest.mark.parametrize("signals", [[signal.SIGTERM], [signal.SIGINT]])
def test_one_stop_signal_finishes_the_messages_in_flight_and_acks_them(
    broker: Broker, ferretdb: Database, messages: Path, signals: list[int]
) -> None:
    url = f"{ferretdb.url}/stop"
    names_ = names()
    saver = run(url, broker, names_, "--allow-path", messages)
    with ferretdb.frozen():  # the database holds the save up while the signal comes
        publish_raw(broker, names_, "pose", message_for_queue(messages / "m1.json")[1])
        wait_until(lambda: settled(broker, names_), what="the saver holds the message")
        for number in signals:
            saver.signal(number)
        saver.wait_for("stopping: finishing the messages in flight")
    status, _, stderr = saver.finish()
    assert status == 0, stderr
    assert "saved 1 (1 new" in stderr
    assert settled(broker, names_) and queue_depth(broker, option(names_, "--queue"))[1] == 0


def test_a_second_ctrl_c_abandons_the_messages_in_flight_unacked(
    broker: Broker, ferretdb: Database, messages: Path
) -> None:
    url = f"{ferretdb.url}/abandon"
    names_ = names()
    saver = run(url, broker, names_, "--allow-path", messages)
    with ferretdb.frozen():
        publish_raw(broker, names_, "pose", message_for_queue(messages / "m1.json")[1])
        wait_until(lambda: settled(broker, names_), what="the saver holds the message")
        saver.signal(signal.SIGINT)
        saver.wait_for("stopping")
        saver.signal(signal.SIGINT)
        status, _, stderr = saver.finish()
    assert status == 130, stderr
    assert "abandoning the messages in flight" in stderr
    wait_until(lambda: queue_depth(broker, option(names_, "--queue"))[0] == 1, what="the message back in the queue")


def test_an_exchange_declared_with_other_properties_is_one_line(broker: Broker, tmp_path: Path) -> None:
    """The original pipeline declared `data` non-durable: the saver names the difference, writes nothing."""
    names_ = names()
    with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
        connection.channel().exchange_declare(option(names_, "--exchange"), "topic", durable=False)
    url = f"sqlite:///{tmp_path / 'b.db'}"
    process = run_module("brainstorm.saver", "run", "-d", url, *names_, broker.url, env=dict(os.environ))
    assert process.returncode == 1
    lines = [line for line in process.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1 and "inequivalent arg 'durable'" in lines[0] and "Traceback" not in process.stderr


BAD_RUNS = [
    (["ftp://host/"], "no message queue driver for ftp://; known: amqp://, amqps://, rabbitmq://"),
    (["rabbitmq://"], "names no host"),
    (["rabbitmq://host:99999/"], "not valid"),
    (["no-scheme"], "has no scheme"),
    (["--queue", "", "rabbitmq://h/"], "queue name '' must be 1-255 bytes"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD_RUNS)
def test_bad_queue_urls_and_options_are_one_line(tmp_path: Path, args: list[str], fragment: str) -> None:
    process = run_module("brainstorm.saver", "run", "-d", f"sqlite:///{tmp_path / 'b.db'}", *args, env=dict(os.environ))
    assert process.returncode == 1, process.stderr
    assert process.stderr.strip().count("\n") == 0 and fragment in process.stderr, process.stderr
    assert not (tmp_path / "b.db").exists(), "checked before the database is opened"


def test_credentials_in_a_queue_url_never_show(tmp_path: Path) -> None:
    saver = SaverProcess("run", "-d", f"sqlite:///{tmp_path / 'b.db'}", "amqp://brainuser:s3cr3tpass@127.0.0.1:1/vhost")
    saver.wait_for("cannot reach the broker", times=2)
    _, stdout, stderr = saver.stop()
    assert "s3cr3tpass" not in stderr + stdout and "brainuser" not in stderr + stdout
    assert "amqp://***@127.0.0.1:1/vhost" in stderr


@pytest.mark.parametrize("path", ["save", "import", "queue"])
def test_one_rule_for_a_message_on_every_path(broker: Broker, tmp_path: Path, path: str) -> None:
    """Several results in one message are refused by name, and 5,000 levels of nesting in one line,
    whether the message is saved from a file, imported, or consumed from the queue."""
    url = f"sqlite:///{tmp_path / 'b.db'}"
    folder = tmp_path / "in"
    folder.mkdir()
    bad = {
        "two.json": json.dumps({"user": USER, "datetime": 1, "pose": {}, "feelings": {}}).encode(),
        "deep.json": b'{"user": {}, "datetime": 1, "pose": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    }
    for name, body in bad.items():
        (folder / name).write_bytes(body)
    expected = ["holds 'pose', 'feelings'", "100 levels deep"]
    env = {**os.environ, "BRAINSTORM_DATABASE_URL": url}
    if path == "save":
        for name, fragment in zip(bad, expected, strict=True):
            process = run_module("brainstorm.saver", "save", folder / name, env=env)
            assert process.returncode == 1 and fragment in process.stderr and "Traceback" not in process.stderr
    elif path == "import":
        process = run_module("brainstorm.saver", "import", "--no-progress", folder, env=env)
        assert process.returncode == 1 and all(f in process.stderr for f in expected), process.stderr
    else:
        names_ = names()
        saver = run(url, broker, names_)
        try:
            for body in bad.values():
                publish_raw(broker, names_, "pose", body)
            saver.wait_for("dead-lettered", times=2)
        finally:
            saver.stop()
        reasons = [str(headers[REASON_HEADER]) for headers, _ in dead_letters(broker, names_)]
        assert [any(f in r for r in reasons) for f in expected] == [True, True], reasons
    with db_drivers.connect(url) as driver:
        assert driver.get_users() == []


MANY_USERS, SNAPSHOTS_EACH = 20, 250  # x 2 results: 10,000 messages


@pytest.fixture(scope="module")
def ten_thousand(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """10,000 messages (20 users, 250 snapshots each, pose and feelings; one in ten with a payload file),
    and what `import` of them saves."""
    directory = tmp_path_factory.mktemp("many") / "messages"
    rng = np.random.default_rng(17)
    for user_id in range(1, MANY_USERS + 1):
        user = {"user_id": user_id, "username": f"user {user_id}", "birthday": 631152000, "gender": "f"}
        folder = directory / str(user_id)
        folder.mkdir(parents=True)
        for number in range(SNAPSHOTS_EACH):
            when = WHEN_MS + 1000 * number
            pose: dict[str, Any] = {"translation": {"x": number, "y": user_id}}
            if number % 5 == 0:
                (folder / f"{number}.bin").write_bytes(rng.bytes(4000))
                pose["path"] = f"{number}.bin"
            for name, result in (("pose", pose), ("feelings", {"hunger": number / SNAPSHOTS_EACH})):
                (folder / f"{number}-{name}.json").write_text(
                    json.dumps({"user": user, "datetime": when, name: result})
                )
    url = f"sqlite:///{directory.parent / 'import.db'}"
    process = run_module(
        "brainstorm.saver",
        "import",
        "--no-progress",
        "--jobs",
        "2",
        directory,
        env={**os.environ, "BRAINSTORM_DATABASE_URL": url},
    )
    assert process.returncode == 0, process.stderr
    return directory, dump(url)


@pytest.mark.slow
def test_three_savers_one_killed_and_a_broker_restart_lose_nothing_and_double_nothing(
    broker: Broker, driver_url: str, ten_thousand: tuple[Path, Any]
) -> None:
    """At-least-once, saved once: the messages published, three savers on the queue, one SIGKILLed a fifth
    of the way, the broker restarted half way; the database ends as `import` of the same messages leaves it."""
    directory, expected = ten_thousand
    names_ = names()
    first = run(driver_url, broker, names_, "--jobs", "2", "--allow-path", directory)
    first.stop()  # the queue is declared; now fill it
    assert publish(broker, names_, directory).startswith("published 10000 messages")
    savers = [run(driver_url, broker, names_, "--jobs", "2", "--allow-path", directory) for _ in range(3)]

    def saved() -> int:
        return sum(saver.count("saved ") for saver in savers)

    try:
        wait_until(lambda: saved() >= 2000, timeout=600, what="2,000 saves")
        savers[0].kill()
        wait_until(lambda: saved() >= 5000, timeout=600, what="5,000 saves")
        broker.restart()
        wait_until(lambda: settled(broker, names_), timeout=900, what="an empty queue")
    finally:
        stopped = [saver.stop() for saver in savers[1:]]
    for status, _, stderr in stopped:
        assert status == 0, stderr[-3000:]
        assert "dead-lettered 0" in stderr
    assert settled(broker, names_) and dead_letters(broker, names_) == []
    assert dump(driver_url) == expected
    with db_drivers.connect(driver_url) as driver:
        for user in driver.get_users():
            datetimes = [snapshot["datetime"] for snapshot in driver.get_snapshots(user["user_id"])]
            assert len(datetimes) == len(set(datetimes)) == SNAPSHOTS_EACH  # nothing doubled
        report = driver.verify()
        assert not report.missing.count and not report.corrupt.count, report.problems
        driver.collect_garbage(dt.timedelta(0))  # what the killed saver left is collectable
        assert driver.verify().ok
