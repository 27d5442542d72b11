"""Shared fixtures: the MongoDB-protocol test server, a fresh database per test, the dataset."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pymongo
import pytest
from pymongo import monitoring

import brainstorm.database_drivers as db_drivers
from tests.ferretdb_server import running_ferretdb

MONGODB_URL_ENV = "BRAINSTORM_TEST_MONGODB_URL"
DRIVER_NAMES = ["mongodb", "sqlite"]


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


@pytest.fixture
def driver(driver_url: str) -> Iterator[db_drivers.Driver]:
    with db_drivers.connect(driver_url) as driver:
        yield driver


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


def count_blobs(driver: db_drivers.Driver) -> int:
    """How many payloads the driver's blob store holds (GridFS files, or the embedded blob table)."""
    from brainstorm.database_drivers.mongodb_driver import BUCKET, MongodbDriver

    if isinstance(driver, MongodbDriver):
        return driver.database[f"{BUCKET}.files"].count_documents({})
    with contextlib.closing(sqlite3.connect(driver.path)) as db:  # type: ignore[attr-defined]
        return int(db.execute("SELECT count(*) FROM blobs").fetchone()[0])
