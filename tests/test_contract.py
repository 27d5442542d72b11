"""The shipped contract suite (`brainstorm.testing.contract`), run for every driver by the `driver_url`
fixture of conftest.py, exactly as a driver author runs it for theirs."""

from brainstorm.testing.contract import *  # noqa: F403
