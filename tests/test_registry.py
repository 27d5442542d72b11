"""The driver registry: a read-only mapping from name to class, found by naming rule or entry point."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

import brainstorm.database_drivers as db_drivers
import brainstorm.testing.contract
from brainstorm.database_drivers import Driver, InvalidInput, UnknownDriver, driver_name
from tests.test_layering import foreign_private_imports

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PLUGIN = ROOT / "tests" / "example_plugin"
BUILT_IN = {"mongodb": "MongodbDriver", "sqlite": "SqliteDriver"}


def test_the_package_is_a_mapping_of_driver_classes() -> None:
    assert isinstance(db_drivers, Mapping)
    assert set(BUILT_IN) <= set(db_drivers)
    assert len(db_drivers) == len(list(db_drivers)) == len(dict(db_drivers))
    assert list(db_drivers) == sorted(db_drivers)
    for name, class_name in BUILT_IN.items():
        assert name in db_drivers
        cls = db_drivers[name]
        assert issubclass(cls, Driver) and cls.__name__ == class_name
        assert db_drivers.get(name) is cls and dict(db_drivers)[name] is cls
    assert (
        dict(db_drivers.items()) == dict(db_drivers) == dict(zip(db_drivers.keys(), db_drivers.values(), strict=True))
    )


def test_unknown_names_are_unknown_drivers() -> None:
    assert "redis" not in db_drivers and 1 not in db_drivers
    assert db_drivers.get("redis") is None and db_drivers.get("redis", "fallback") == "fallback"
    with pytest.raises(UnknownDriver, match="mongodb") as raised:
        db_drivers["redis"]
    assert isinstance(raised.value, KeyError) and isinstance(raised.value, db_drivers.BrainstormError)
    assert "redis" in str(raised.value)


@pytest.mark.parametrize("name, class_name", BUILT_IN.items())
def test_driver_modules_import_as_submodules(name: str, class_name: str) -> None:
    module = importlib.import_module(f"brainstorm.database_drivers.{name}_driver")
    assert getattr(module, class_name) is db_drivers[name]


@pytest.mark.parametrize(
    ("class_name", "name"),
    [
        ("MongodbDriver", "mongodb"),
        ("SqliteDriver", "sqlite"),
        ("MyStoreDriver", "my_store"),
        ("S3Driver", "s3"),
        ("ABDriver", "a_b"),
    ],
)
def test_class_names_give_driver_names(class_name: str, name: str) -> None:
    assert driver_name(class_name) == name


@pytest.mark.parametrize("class_name", ["Driver", "MyStore", "myStoreDriver", "MyStoreDriverX", "My_StoreDriver"])
def test_other_class_names_are_not_drivers(class_name: str) -> None:
    with pytest.raises(ValueError, match=class_name):
        driver_name(class_name)


def test_connect_picks_the_driver_by_scheme(mongodb_url: str, tmp_path: Path) -> None:
    with db_drivers.connect(f"sqlite:///{tmp_path / 'x.db'}") as sqlite, db_drivers.connect(mongodb_url) as mongodb:
        assert type(sqlite) is db_drivers["sqlite"]
        assert type(mongodb) is db_drivers["mongodb"]
        for driver in (sqlite, mongodb):
            driver.save_user({"user_id": 1})
            assert driver.get_users() == [{"user_id": 1, "username": None}]


@pytest.mark.parametrize("url", ["redis://localhost/0", "postgresql://bob:hunter2@db.example/brainstorm"])
def test_connect_refuses_unknown_schemes_naming_the_known_ones(url: str) -> None:
    with pytest.raises(UnknownDriver) as raised:
        db_drivers.connect(url)
    message = str(raised.value)
    assert "mongodb://" in message and "sqlite://" in message
    assert "hunter2" not in message and "bob" not in message


@pytest.mark.parametrize("url", ["brainstorm.db", "", "://x"])
def test_connect_refuses_urls_without_a_scheme(url: str) -> None:
    with pytest.raises(InvalidInput):
        db_drivers.connect(url)


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_a_driver_class_refuses_other_schemes(name: str) -> None:
    with pytest.raises(InvalidInput, match="redis"):
        db_drivers[name]("redis://localhost/0")


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
    )


@pytest.mark.parametrize("blocked", [["pymongo"], ["pymongo", "bson", "gridfs"]], ids=["pymongo", "all-of-pymongo"])
def test_a_missing_optional_dependency_breaks_only_its_driver(blocked: list[str]) -> None:
    done = run_python(f"""
        import sys
        for name in {blocked!r}:
            sys.modules[name] = None
        import brainstorm.database_drivers as db_drivers
        assert "mongodb" in db_drivers and "sqlite" in db_drivers
        with db_drivers.connect("sqlite://") as driver:
            driver.save_user({{"user_id": 1}})
            assert driver.get_users() == [{{"user_id": 1, "username": None}}]
        try:
            db_drivers["mongodb"]
        except db_drivers.DriverUnavailable as exc:
            assert isinstance(exc, ImportError) and isinstance(exc, db_drivers.BrainstormError)
            print(exc)
        else:
            raise AssertionError("db_drivers['mongodb'] did not raise")
        try:
            db_drivers.connect("mongodb://127.0.0.1:1")
        except db_drivers.DriverUnavailable:
            print("connect: DriverUnavailable")
    """)
    assert done.returncode == 0, done.stderr
    assert "pip install 'brainstorm[mongodb]'" in done.stdout
    assert "connect: DriverUnavailable" in done.stdout


def test_other_packages_add_drivers_through_entry_points(tmp_path: Path) -> None:
    (tmp_path / "memo_driver_pkg.py").write_text(
        textwrap.dedent("""
        from brainstorm.database_drivers.sqlite_driver import SqliteDriver

        class MemoDriver(SqliteDriver):
            schemes = ("memo", "sqlite")

            def __init__(self, url, **options):
                super().__init__("sqlite://", **options)
                self.url = url
    """)
    )
    dist_info = tmp_path / "memo_driver_pkg-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: memo-driver-pkg\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[brainstorm.database_drivers]\nmemo = memo_driver_pkg:MemoDriver\n")
    done = run_python(
        """
        import brainstorm.database_drivers as db_drivers
        assert "memo" in db_drivers and db_drivers["memo"].__name__ == "MemoDriver"
        with db_drivers.connect("memo://anything") as driver:
            driver.save_user({"user_id": 5})
            print(type(driver).__name__, driver.get_users())
        """,
        PYTHONPATH=str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "MemoDriver [{'user_id': 5, 'username': None}]"


def test_a_third_party_driver_registered_by_entry_point_passes_the_contract_suite(tmp_path: Path) -> None:
    """tests/example_plugin is a driver as its author would ship it: a module of primitives written
    against public names only, its entry point, and a test module that imports the contract suite.
    Installed (on PYTHONPATH), it is found by its entry point and passes the whole suite, with the
    author's `driver_url`: pytest runs from elsewhere and never loads our conftest.py."""
    assert foreign_private_imports(EXAMPLE_PLUGIN / "folder_driver.py", root=EXAMPLE_PLUGIN) == []
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.pathsep.join([str(EXAMPLE_PLUGIN), str(ROOT)])}
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import brainstorm.database_drivers as db_drivers
            assert "folder" in db_drivers, sorted(db_drivers)
            with db_drivers.connect("folder://{tmp_path / "db"}") as driver:
                driver.save_user({{"user_id": 5}})
                print(type(driver).__module__, type(driver).__name__, driver.get_users())
            """),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "folder_driver FolderDriver [{'user_id': 5, 'username': None}]"
    assert (tmp_path / "db" / "records.json").is_file()

    suite = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--trace-config"),
            *("-c", os.devnull, "--rootdir", EXAMPLE_PLUGIN, "--confcutdir", EXAMPLE_PLUGIN),
            EXAMPLE_PLUGIN / "test_folder_driver.py",
        ],
        cwd=tmp_path,  # where hypothesis keeps its examples
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert suite.returncode == 0, suite.stdout[-20_000:] + suite.stderr
    assert "PLUGIN registered:" in suite.stdout  # --trace-config lists every plugin and conftest loaded ...
    assert str(ROOT / "tests" / "conftest.py") not in suite.stdout  # ... and ours is not one of them
    counts = {outcome: int(n) for n, outcome in re.findall(r"(\d+) (\w+)", suite.stdout.strip().splitlines()[-1])}
    contract_tests = [name for name in brainstorm.testing.contract.__all__ if name.startswith("test_")]
    assert counts.get("passed", 0) >= len(contract_tests), counts
    assert not {"failed", "skipped", "error", "errors", "xfailed", "xpassed", "deselected"} & set(counts), counts
