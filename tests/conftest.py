"""Shared fixtures: the MongoDB-protocol test server, a fresh database per test, the dataset."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pymongo
import pytest
from pymongo import monitoring

from brainstorm.testing.contract.fixtures import driver  # noqa: F401  (for every test: a driver on an empty database)
from tools.ferretdb_server import BACKENDS, VERSION, Backend, running_ferretdb

MONGODB_URL_ENV = "BRAINSTORM_TEST_MONGODB_URL"
BACKEND_ENV = "BRAINSTORM_TEST_FERRETDB_BACKEND"
SERVER_FIXTURES = {"mongodb_server_url", "mongodb_url"}
TEST_LOGINS = ("brain_admin",)
"""The user tests log in as with authMechanism=PLAIN and any password (test_mongodb.py, test_url.py): FerretDB
on SQLite takes anyone, on PostgreSQL it logs into PostgreSQL as that user, so the cluster must have it."""
DRIVER_NAMES = ["mongodb", "sqlite"]
collect_ignore = ["example_plugin"]  # a driver author's suite: test_registry.py runs it on its own


def with_database(url: str, database: str) -> str:
    """`url` pointing at another database (the URL's path), options kept."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def ferretdb_backend() -> Backend | None:
    """The backend of the FerretDB the suite starts: BRAINSTORM_TEST_FERRETDB_BACKEND, "sqlite" by default
    (None when BRAINSTORM_TEST_MONGODB_URL names another server)."""
    backend = os.environ.get(BACKEND_ENV, "")
    if os.environ.get(MONGODB_URL_ENV):
        if backend:
            raise pytest.UsageError(f"set {MONGODB_URL_ENV} (a server of yours) or {BACKEND_ENV}, not both")
        return None
    for known in BACKENDS:
        if backend in ("", known):
            return known
    raise pytest.UsageError(f"{BACKEND_ENV}={backend!r}: choose among {', '.join(BACKENDS)}")


def server_only() -> bool:
    """Whether this run is a second pass of the matrix: FerretDB on another backend than the default,
    running only the tests that use the server."""
    return ferretdb_backend() not in (None, BACKENDS[0])


def uses_mongodb_server(item: pytest.Item) -> bool:
    """Whether a test talks to the MongoDB-protocol server: a server fixture among the fixtures it needs,
    or a driver parameter "mongodb" (the fixtures choosing a driver ask for `mongodb_url` only then, with
    `request.getfixturevalue`, which the fixture closure does not show; `mongodb_url` checks this rule)."""
    if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and any(
        isinstance(value, str) and value == "mongodb" for value in callspec.params.values()
    )


def pytest_report_header(config: pytest.Config) -> str:
    backend = ferretdb_backend()
    if backend is None:
        return f"MongoDB-protocol server: {os.environ[MONGODB_URL_ENV]} ({MONGODB_URL_ENV})"
    scope = "only the tests using the server" if server_only() else "every test"
    return f"MongoDB-protocol server: FerretDB {VERSION} on {backend} ({BACKEND_ENV}); running {scope}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the matrix's second backend, deselect (not skip) the tests that do not use the server."""
    if not server_only():
        return
    kept = [item for item in items if uses_mongodb_server(item)]
    deselected = [item for item in items if not uses_mongodb_server(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture(scope="session")
def mongodb_server_url() -> Iterator[str]:
    """A real MongoDB-protocol server: BRAINSTORM_TEST_MONGODB_URL, else a FerretDB started here on the
    backend BRAINSTORM_TEST_FERRETDB_BACKEND names (sqlite by default)."""
    backend = ferretdb_backend()
    if backend is None:
        yield os.environ[MONGODB_URL_ENV]
        return
    with running_ferretdb(backend, logins=TEST_LOGINS) as url:
        yield url


@pytest.fixture
def mongodb_url(request: pytest.FixtureRequest, mongodb_server_url: str) -> Iterator[str]:
    """A URL to a database of its own, dropped after the test."""
    if not uses_mongodb_server(request.node):  # else the second pass of the matrix would leave this test out
        pytest.fail(f"{request.node.nodeid} uses the server, but conftest.uses_mongodb_server does not see it")
    name = f"brainstorm_test_{uuid.uuid4().hex[:12]}"
    yield with_database(mongodb_server_url, name)
    with pymongo.MongoClient(mongodb_server_url, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(name)


@pytest.fixture(params=DRIVER_NAMES)
def driver_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database, for each driver in turn."""
    if request.param == "mongodb":
        return str(request.getfixturevalue("mongodb_url"))
    return f"sqlite:///{tmp_path / 'brainstorm.db'}"


class CommandLog(monitoring.CommandListener):
    """Every command a pymongo client sends, as (command name, collection)."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, Any]] = []
        self.documents: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands.append((event.command_name, event.command.get(event.command_name)))
        self.documents.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def clear(self) -> None:
        self.commands.clear()
        self.documents.clear()


ROOT = Path(__file__).resolve().parent.parent


def run_module(
    module: str, *args: str | int | Path, env: dict[str, str], stdin: str | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """Run `python -m MODULE ARGS` to completion, as a user would, capturing its output as text."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
