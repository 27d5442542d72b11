"""The test server's tools as a person runs them: the build refuses sources it cannot vouch for, and
`python -m tools.ferretdb_server` prints a URL that works, then stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import brainstorm.database_drivers as db_drivers
from tests.conftest import ROOT
from tools.ferretdb_server import BUILD_SCRIPT, BUILT

ARCHIVES = re.findall(r'"(\S+\.tar\.gz) [0-9a-f]{64} ', BUILD_SCRIPT.read_text())


def build(vendor: Path, out: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BRAINSTORM_VENDOR_DIR": str(vendor)}
    return subprocess.run(["bash", str(BUILD_SCRIPT), str(out)], env=env, capture_output=True, text=True, timeout=120)


def test_the_build_takes_four_archives_each_with_its_digest() -> None:
    assert sorted(ARCHIVES) == [
        "documentdb-0.106.0-ferretdb-2.5.0.tar.gz",
        "mongo-c-driver-1.28.0.tar.gz",
        "pg_cron-1.6.3.tar.gz",
        "pgvector-0.8.0.tar.gz",
    ]


def test_the_build_refuses_an_archive_whose_digest_differs_before_building_anything(tmp_path: Path) -> None:
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    for name in ARCHIVES:
        (vendor / name).write_bytes(b"not the release " + name.encode())
    done = build(vendor, tmp_path / "out")
    assert done.returncode == 1
    assert re.search(rf"{re.escape(ARCHIVES[0])} has sha256 [0-9a-f]{{64}}, not [0-9a-f]{{64}}: refusing", done.stderr)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_the_build_names_a_missing_archive(tmp_path: Path) -> None:
    done = build(tmp_path, tmp_path / "out")
    assert done.returncode == 1 and f"{ARCHIVES[0]} is not in BRAINSTORM_VENDOR_DIR={tmp_path}" in done.stderr


def test_a_built_server_is_not_built_again(tmp_path: Path) -> None:
    stamp = (BUILT / ".stamp").read_text()
    done = build(tmp_path / "no-vendor-needed", BUILT)
    assert done.returncode == 0 and done.stderr == "" and (BUILT / ".stamp").read_text() == stamp


def test_the_launcher_prints_a_url_that_works_and_stops_on_sigterm() -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "tools.ferretdb_server"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stderr is not None
        url = server.stdout.readline().strip()
        said = server.stderr.readline()
        assert re.fullmatch(r"mongodb://brainstorm:[\w-]+@127\.0\.0\.1:\d+", url), url
        assert "FerretDB v2.5.0 on PostgreSQL 15 with DocumentDB 0.106.0-ferretdb-2.5.0" in said
        home = Path(re.search(r"data in (\S+) ", said).group(1))  # type: ignore[union-attr]
        assert home.is_dir()
        with db_drivers.connect(f"{url}/launched") as driver:
            driver.save_snapshot({"user_id": 1, "datetime": 0, "pose": {"x": 1}})
            assert driver.get_result(1, 1, "pose") == {"x": 1}
        with pytest.raises(db_drivers.DatabaseUnavailable, match="refused access"):
            db_drivers.connect(f"{url.rpartition('@')[0].rpartition(':')[0]}:wrong@{url.rpartition('@')[2]}/x")
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        assert not home.exists(), "its storage goes with it"
        with pytest.raises(db_drivers.DatabaseUnavailable):
            db_drivers.connect(f"{url}/launched?serverSelectionTimeoutMS=500")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
