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
from tools.ferretdb_server import running_ferretdb

MONGODB_URL_ENV = "BRAINSTORM_TEST_MONGODB_URL"
DRIVER_NAMES = ["mongodb", "sqlite"]
collect_ignore = ["example_plugin"]  # a driver author's suite: test_registry.py runs it on its own


def with_database(url: str, database: str) -> str:
    """`url` pointing at another database (the URL's path), options kept."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def mongodb_server_url() -> Iterator[str]:
    """A real MongoDB-protocol server: BRAINSTORM_TEST_MONGODB_URL, else a FerretDB started here."""
    if url := os.environ.get(MONGODB_URL_ENV):
        yield url
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
