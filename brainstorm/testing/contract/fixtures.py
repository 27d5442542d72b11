"""The fixtures every contract test builds on: a driver on an empty database, and one per payload placement.

Both ask for `driver_url`, which the module running the suite provides: a URL to an empty
database, new for each test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import brainstorm.database_drivers as db_drivers

WHEN = 1575454087339

INLINE_LIMITS = {"inline": 16 * 1024 * 1024, "blob_store": 0}
"""Where payloads go: kept inside the result's record (as far as the driver allows) or all in the blob store."""


@pytest.fixture
def driver(driver_url: str) -> Iterator[db_drivers.Driver]:
    """A driver on an empty database."""
    with db_drivers.connect(driver_url) as driver:
        yield driver


@pytest.fixture(params=sorted(INLINE_LIMITS))
def store(request: pytest.FixtureRequest, driver_url: str) -> Iterator[db_drivers.Driver]:
    """A driver keeping payloads inline, then one keeping them all in its blob store."""
    with db_drivers.connect(driver_url, inline_limit=INLINE_LIMITS[request.param]) as driver:
        yield driver


@pytest.fixture
def populated(driver: db_drivers.Driver) -> db_drivers.Driver:
    """User 1 with snapshot 1 and its result 'pose': a lookup that coerces a bad id would find them."""
    driver.save_user({"user_id": 1, "username": "One"})
    driver.save_snapshot({"user_id": 1, "datetime": WHEN, "pose": {"x": 1}})
    return driver
