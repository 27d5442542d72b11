"""Shared fixtures: the MongoDB-protocol test server, a fresh database per test, the dataset."""

from __future__ import annotations

import contextlib
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

from brainstorm.database_drivers._url import redact
from brainstorm.testing.contract.fixtures import driver  # noqa: F401  (for every test: a driver on an empty database)
from tools.ferretdb_server import DOCUMENTDB_VERSION, VERSION, running_ferretdb

MONGODB_URL_ENV = "BRAINSTORM_TEST_MONGODB_URL"
DRIVER_NAMES = ["mongodb", "sqlite"]
LOGGING_IN = {"saslStart", "saslContinue", "authenticate"}
collect_ignore = ["example_plugin"]  # a driver author's suite: test_registry.py runs it on its own


def with_database(url: str, database: str) -> str:
    """`url` pointing at another database (the URL's path), options kept."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def server_address(url: str) -> str:
    """`host:port` of a mongodb URL, without the credentials it may carry."""
    return urlsplit(url).netloc.rpartition("@")[2]


def with_login(url: str, user: str, password: str) -> str:
    """`url` logging in as `user` (created in the admin database, see `create_login`)."""
    parts = urlsplit(url)
    query = "&".join(filter(None, (parts.query, "authSource=admin")))
    return urlunsplit((parts.scheme, f"{user}:{password}@{server_address(url)}", parts.path, query, ""))


def create_login(server_url: str, user: str, password: str) -> None:
    """A user logging in with `password` (SCRAM) who may read and write every database, made on the server
    by `createUser` (FerretDB v2 makes it a PostgreSQL role); one of the same name a run before left goes first."""
    with pymongo.MongoClient(server_url, serverSelectionTimeoutMS=5000) as client:
        with contextlib.suppress(pymongo.errors.OperationFailure):  # none left: nothing to drop
            client.admin.command("dropUser", user)
        client.admin.command("createUser", user, pwd=password, roles=[{"role": "readWriteAnyDatabase", "db": "admin"}])


def pytest_report_header(config: pytest.Config) -> str:
    if os.environ.get(MONGODB_URL_ENV):
        return f"MongoDB-protocol server: {redact(os.environ[MONGODB_URL_ENV])} ({MONGODB_URL_ENV})"
    return f"MongoDB-protocol server: FerretDB {VERSION} on PostgreSQL 15 with DocumentDB {DOCUMENTDB_VERSION}"


@pytest.fixture(scope="session")
def mongodb_server_url() -> Iterator[str]:
    """A real MongoDB-protocol server: BRAINSTORM_TEST_MONGODB_URL, else a FerretDB started here."""
    if os.environ.get(MONGODB_URL_ENV):
        yield os.environ[MONGODB_URL_ENV]
        return
    with running_ferretdb() as url:
        yield url


@pytest.fixture
def mongodb_url(mongodb_server_url: str) -> Iterator[str]:
    """A URL to a database of its own, dropped after the test."""
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
    """Every command a pymongo client sends, as (command name, collection); logging in (SCRAM's steps, on
    each new connection) is part of no operation and left out."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, Any]] = []
        self.documents: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in LOGGING_IN:
            return
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
