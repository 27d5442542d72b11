"""`python -m brainstorm.saver import --jobs N`: real processes, on both drivers.

What a parallel import must keep of a sequential one: per-file errors, the summary, exit statuses,
idempotency, Ctrl-C leaving only whole results, and the same database in the end. The pipeline
dataset puts the four results of a snapshot in four adjacent files, so with --jobs 4 the four threads
save into the same snapshot at once; `many/` adds one snapshot of sixteen results, one file each.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.testing.helpers import count_blobs, published_results
from fixtures.pipeline.generate import User, generate
from tests.conftest import run_module
from tests.test_saver_cli import Watched

USERS = (User(7, "Ada Lovelace", -4911264000, "f", 3), User(42, "Dan Gittik", 699753600, "m", 2))
USER = {"user_id": 42, "username": "Dan Gittik", "birthday": 699753600, "gender": "m"}
WHEN_MS = 1575454087339
MANY = 16
MESSAGES = 4 * (3 + 2) + MANY

Dump = dict[tuple[int, Any, str], Any]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline's layout (5 snapshots, 20 messages) and one snapshot of 16 results in 16 files,
    each with a payload big enough for the blob store."""
    directory = tmp_path_factory.mktemp("pipeline") / "messages"
    generate(directory, users=USERS, image_size=(64, 36))
    rng = np.random.default_rng(11)
    for number in range(MANY):
        (directory / "many" / f"r{number:02}.bin").parent.mkdir(exist_ok=True)
        (directory / "many" / f"r{number:02}.bin").write_bytes(rng.bytes(20_000 + number))
        write_message(
            directory / "many" / f"r{number:02}.json", f"r{number:02}", {"n": number, "path": f"r{number:02}.bin"}
        )
    return directory


def write_message(path: Path, name: str, result: Any, datetime: int = WHEN_MS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"user": USER, "datetime": datetime, name: result}))
    return path


def saver(*args: str | int | Path, url: str) -> Any:
    return run_module("brainstorm.saver", *args, env={**os.environ, "BRAINSTORM_DATABASE_URL": url})


def dump(url: str) -> Dump:
    """Every result by (user, datetime, name), payloads read back, plus each user's fields under
    (user, None, ""): a database's content without its snapshot ids, which concurrent writers number
    in the order they come."""
    content: Dump = {}
    with db_drivers.connect(url) as driver:
        for user in driver.get_users():
            content[user["user_id"], None, ""] = driver.get_user(user["user_id"])
        for user_id, snapshot, name, result in published_results(driver):
            content[user_id, snapshot["datetime"], name] = plain(result)
    return content


def plain(value: Any) -> Any:
    """A value read back, comparable with ==: arrays as (dtype, shape, bytes)."""
    if isinstance(value, Mapping):
        return {key: plain(value[key]) for key in value}
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    return value


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[Any]:
    """`reference(directory)`: the dump of a --jobs 1 import of it into an embedded database of its own."""

    def imported(directory: Path) -> Dump:
        url = f"sqlite:///{tmp_path / f'reference-{time.monotonic_ns()}.db'}"
        process = saver("import", "--no-progress", directory, url=url)
        assert process.returncode == 0, process.stderr
        return dump(url)

    yield imported


def summary_counts(stdout: str) -> tuple[int, int, int, int, int]:
    """(done, new, updated, unchanged, failed) from the summary line."""
    match = re.search(
        r"(?:(\d+) of )?(\d+) messages in .*: (\d+) new, (\d+) updated, (\d+) unchanged, (\d+) failed", stdout
    )
    assert match is not None, stdout
    of, total, *counts = match.groups()
    return (int(of or total), *map(int, counts))  # type: ignore[return-value]


def test_four_jobs_save_what_one_job_saves_and_merge_snapshots(dataset: Path, driver_url: str, reference: Any) -> None:
    process = saver("import", "--jobs", 4, dataset, url=driver_url)
    assert process.returncode == 0, process.stderr
    assert process.stdout.rstrip().endswith(f"{MESSAGES} new, 0 updated, 0 unchanged, 0 failed")
    assert f"{MESSAGES}/{MESSAGES} messages" in process.stderr and "B/s" in process.stderr  # the progress bar
    saved = dump(driver_url)
    assert saved == reference(dataset)
    with db_drivers.connect(driver_url) as driver:
        assert [len(driver.get_snapshots(user.user_id)) for user in USERS] == [3, 2 + 1]  # no snapshot twice
        report = driver.verify()
        assert report.problems == [] and report.orphaned.count == 0  # no payload lost or left over
        blobs = count_blobs(driver)
    again = saver("import", "--jobs", 4, "--no-progress", dataset, url=driver_url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.rstrip().endswith(f"0 new, 0 updated, {MESSAGES} unchanged, 0 failed")
    assert dump(driver_url) == saved
    with db_drivers.connect(driver_url) as driver:
        assert count_blobs(driver) == blobs


def test_four_jobs_into_a_full_database_add_what_one_job_adds(
    tmp_path: Path, dataset: Path, driver_url: str, reference: Any
) -> None:
    """A database that already holds other users, and more snapshots of these ones: four threads save into
    it at once (numbering among existing snapshots, merging, reusing nothing they should not)."""
    others = tmp_path / "others"
    generate(others, users=(User(8, "Eve", 0, "f", 4), User(42, "Dan Gittik", 699753600, "m", 2)), image_size=(48, 27))
    for message in (others / "42").rglob("*.json"):  # Dan's other snapshots: a day later than the dataset's
        text = json.loads(message.read_text())
        when = text["datetime"]  # milliseconds, as a number or as Extended JSON
        text["datetime"] = (int(when["$numberLong"]) if isinstance(when, dict) else when) + 86_400_000
        message.write_text(json.dumps(text))
    first = saver("import", "--no-progress", others, url=driver_url)
    assert first.returncode == 0, first.stderr
    process = saver("import", "--jobs", 4, "--no-progress", dataset, url=driver_url)
    assert process.returncode == 0, process.stderr
    assert process.stdout.rstrip().endswith(f"{MESSAGES} new, 0 updated, 0 unchanged, 0 failed")
    assert dump(driver_url) == {**reference(others), **reference(dataset)}
    with db_drivers.connect(driver_url) as driver:
        report = driver.verify()
        assert report.ok, report.problems


def test_jobs_report_bad_files_by_name_and_go_on(tmp_path: Path, dataset: Path, driver_url: str) -> None:
    messages = tmp_path / "messages"
    shutil.copytree(dataset, messages)
    (messages / "7" / "broken.json").write_text("{")
    write_message(messages / "zz" / "lost.json", "color_image", {"path": "gone.png"})
    process = saver("import", "--jobs", 4, messages, url=driver_url)
    assert process.returncode == 1
    assert "Traceback" not in process.stderr
    assert f"error: {messages / '7' / 'broken.json'}: not valid JSON" in process.stderr
    assert f"error: {messages / 'zz' / 'lost.json'}: result 'color_image' at path names the file" in process.stderr
    assert "2 message(s) failed" in process.stderr
    assert process.stdout.rstrip().endswith(f"{MESSAGES} new, 0 updated, 0 unchanged, 2 failed")


def test_jobs_zero_means_one_per_cpu_and_usage_errors(dataset: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    process = saver("import", "--jobs", 0, "--no-progress", dataset, url=url)
    assert process.returncode == 0, process.stderr
    assert saver("import", "--jobs", -1, dataset, url=url).returncode == 2
    assert saver("import", "--jobs", "many", dataset, url=url).returncode == 2


def gate(folder: Path) -> Path:
    """A message file that is a FIFO: the thread that takes it waits until the test writes to it."""
    folder.mkdir(parents=True)
    os.mkfifo(folder / "gate.json")
    return folder / "gate.json"


GATE_MESSAGE = json.dumps({"user": USER, "datetime": WHEN_MS + 1000, "pose": {"gate": True}})


def open_when_read(fifo: Path, watched: Watched) -> int | None:
    """A descriptor writing into `fifo` once the importer has it open for reading; None if it exits first."""
    while watched.process.poll() is None:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: nobody reads it yet
                raise
            time.sleep(0.01)
    return None


def import_watched(directory: Path, url: str) -> Watched:
    command = [sys.executable, "-m", "brainstorm.saver", "import", "--jobs", "4", str(directory)]
    return Watched(command, {**os.environ, "BRAINSTORM_DATABASE_URL": url})


def saved_results(url: str, complete: Dump) -> int:
    """How many results are saved, having checked that each is exactly what a complete import saves."""
    saved = {key: value for key, value in dump(url).items() if key[2]}
    for key, value in saved.items():
        assert value == complete[key], key
    return len(saved)


def with_a_regular_gate(directory: Path, fifo: Path) -> Path:
    """The gate becomes a plain file holding its message."""
    fifo.unlink()
    fifo.write_text(GATE_MESSAGE)
    return directory


def assert_importing_again_completes(directory: Path, url: str, saved: int, complete: Dump) -> None:
    rerun = saver("import", "--jobs", 4, "--no-progress", directory, url=url)
    assert rerun.returncode == 0, rerun.stderr
    assert summary_counts(rerun.stdout) == (MESSAGES + 1, MESSAGES + 1 - saved, 0, saved, 0)
    assert dump(url) == complete


@pytest.fixture
def gated(tmp_path: Path, dataset: Path, reference: Any) -> tuple[Path, Dump]:
    """A copy of the dataset to import, and the dump of a complete import with the gate as a plain file."""
    directory = tmp_path / "messages"
    shutil.copytree(dataset, directory)
    complete = tmp_path / "complete"
    shutil.copytree(dataset, complete)
    write_message(complete / "0" / "gate.json", "pose", {}).write_text(GATE_MESSAGE)
    return directory, reference(complete)


def test_ctrl_c_lets_every_job_finish_its_message_then_stops(gated: tuple[Path, Dump], driver_url: str) -> None:
    directory, complete = gated
    fifo = gate(directory / "0")  # first: a thread waits on it, so the import cannot end before the test lets it
    watched = import_watched(directory, driver_url)
    watched.wait_for(" messages [")  # the bar: the import has begun
    watched.process.send_signal(signal.SIGINT)
    watched.wait_for("stopping after the current messages")
    writer = open_when_read(fifo, watched)  # the thread that took the gate finishes it
    if writer is not None:
        os.write(writer, GATE_MESSAGE.encode())
        os.close(writer)
    status, stdout, stderr = watched.finish()
    assert status == 130, stderr
    assert "Traceback" not in stderr and "abandoned" not in stderr
    assert stdout.startswith("stopped after ")
    done, new, updated, unchanged, failed = summary_counts(stdout)
    assert (new, updated, unchanged, failed) == (done, 0, 0, 0)
    assert saved_results(driver_url, complete) == done
    assert_importing_again_completes(with_a_regular_gate(directory, fifo), driver_url, done, complete)


def test_ctrl_c_twice_abandons_the_messages_in_flight(gated: tuple[Path, Dump], driver_url: str) -> None:
    directory, complete = gated
    fifo = gate(directory / "0")  # first: one thread waits on it while the others go on
    watched = import_watched(directory, driver_url)
    writer = open_when_read(fifo, watched)  # held open, never written: that thread waits in its read
    assert writer is not None
    try:
        watched.process.send_signal(signal.SIGINT)
        watched.wait_for("press Ctrl-C again to abandon them")
        watched.process.send_signal(signal.SIGINT)
        status, stdout, stderr = watched.finish()
    finally:
        os.close(writer)
    assert status == 130, stderr
    assert "Traceback" not in stderr
    abandoned = re.search(r"abandoned (.*); importing again completes", stderr)
    assert abandoned is not None and str(fifo) in abandoned.group(1).split(", "), stderr
    done, new, *_ = summary_counts(stdout)
    assert done == new and done <= MESSAGES
    saved = saved_results(driver_url, complete)  # an abandoned message is saved whole or not at all
    assert done <= saved <= done + len(abandoned.group(1).split(", ")) - 1  # never the gate
    assert_importing_again_completes(with_a_regular_gate(directory, fifo), driver_url, saved, complete)


# in process: what the threads report back ------------------------------------------------------


def failing_after(monkeypatch: pytest.MonkeyPatch, calls: int, error: Exception) -> None:
    """Saver.save raises `error` from its `calls`-th call on (from any thread)."""
    from brainstorm.saver import Saver

    original, count, lock = Saver.save, [0], threading.Lock()

    def save(self: Saver, *args: Any, **kwargs: Any) -> Any:
        with lock:
            count[0] += 1
            fail = count[0] >= calls
        if fail:
            raise error
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Saver, "save", save)


def test_an_unavailable_database_stops_every_job(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from brainstorm.saver import Saver, import_directory

    failing_after(monkeypatch, 5, db_drivers.DatabaseUnavailable("the database went away"))
    with Saver(f"sqlite:///{tmp_path / 'b.db'}") as saver:
        summary = import_directory(saver, dataset, progress=False, jobs=4)
    assert summary.stopped_by == "the database went away"
    assert (summary.failed, summary.interrupted) == ([], False)
    assert summary.new == 4  # the saves before the failure; none after it counts


def test_a_bug_in_a_job_is_raised_in_the_caller(dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from brainstorm.saver import Saver, import_directory

    failing_after(monkeypatch, 3, ZeroDivisionError("a bug"))
    with Saver(f"sqlite:///{tmp_path / 'b.db'}") as saver, pytest.raises(ZeroDivisionError, match="a bug"):
        import_directory(saver, dataset, progress=False, jobs=4)


def test_threads_do_save_into_one_snapshot_at_once(
    dataset: Path, driver_url: str, reference: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge test above is about concurrent saves of one snapshot: count them, here in process
    (each save held 20 ms first, so that the threads meet however fast the database is)."""
    from brainstorm.saver import Saver, import_directory

    original, saving, overlaps, lock = db_drivers.Driver.save_snapshot, Counter[Any](), [0], threading.Lock()

    def save_snapshot(self: db_drivers.Driver, snapshot: Any) -> int:
        key = snapshot["user_id"], snapshot["datetime"]
        with lock:
            overlaps[0] += saving[key] > 0
            saving[key] += 1
        try:
            time.sleep(0.02)
            return original(self, snapshot)
        finally:
            with lock:
                saving[key] -= 1

    monkeypatch.setattr(db_drivers.Driver, "save_snapshot", save_snapshot)
    with Saver(driver_url) as saver:
        summary = import_directory(saver, dataset, progress=False, jobs=4)
    assert (summary.new, summary.failed) == (MESSAGES, [])
    assert overlaps[0] >= 10  # saves that began while another save of the same snapshot ran
    assert dump(driver_url) == reference(dataset)
