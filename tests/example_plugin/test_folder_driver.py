"""The folder driver's author runs the shipped contract suite against it, as any driver author would."""

from pathlib import Path

import pytest

from brainstorm.testing.contract import *  # noqa: F403


@pytest.fixture
def driver_url(tmp_path: Path) -> str:
    """An empty database for each test (tmp_path is absolute: this is folder:///tmp/.../db)."""
    return f"folder://{tmp_path / 'db'}"
