"""The contract suite, shipped for driver authors: run it against your driver to know it keeps the contract.

In a test module of your own, import the suite and say where an empty database is:

    import pytest
    from brainstorm.testing.contract import *  # noqa: F403  (the tests and their fixtures)

    @pytest.fixture
    def driver_url(tmp_path):
        return f"mystore://{tmp_path}/db"       # a URL to an empty database, new for each test

and run pytest on it. The suite needs pytest and hypothesis (`pip install 'brainstorm[testing]'`).
`brainstorm.testing.helpers` has what the suite checks results with, for your driver's own tests.
"""
