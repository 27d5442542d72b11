"""The README's API examples, run as written (with curl) against the data `make run` creates.

`make run` generates the pipeline dataset and imports it with the saver; this test does the same into
a database of its own, serves it with `brainstorm serve`, and runs every `curl` line of the README's
API block, aimed at that server. Each must succeed (curl -f: no HTTP error), and the users the
README promises must be the ones there.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from fixtures.pipeline.generate import generate
from tests.conftest import ROOT, run_module
from tests.serving import serving

README = (ROOT / "README.md").read_text()


def curl_examples() -> list[str]:
    """Every line of the README's shell blocks that runs curl against the quick start's server."""
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.startswith("curl ")]


@pytest.fixture(scope="module")
def quick_start(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database holding what `make run` imports (the same generator, the same saver command)."""
    root = tmp_path_factory.mktemp("quick-start")
    generate(root / "pipeline")
    url = f"sqlite:///{root / 'brainstorm.db'}"
    imported = run_module("brainstorm.saver", "import", root / "pipeline", "-d", url, env=dict(os.environ))
    assert imported.returncode == 0, imported.stderr
    return url


def test_the_readme_has_curl_examples_for_the_api() -> None:
    assert len(curl_examples()) >= 8


@pytest.mark.parametrize("example", curl_examples())
def test_a_readme_curl_example_runs_as_written(quick_start: str, example: str, tmp_path: Path) -> None:
    with serving(quick_start) as server:
        address = server.url.removeprefix("http://").rstrip("/")
        command, _, comment = example.partition("  #")
        args = [arg.replace("localhost:8000", address) for arg in shlex.split(command)]
        done = subprocess.run([args[0], "-f", *args[1:]], cwd=tmp_path, capture_output=True, timeout=60, check=False)
        assert done.returncode == 0, (example, done.stderr)
        if "-o" in args:
            written = tmp_path / args[args.index("-o") + 1]
            assert written.stat().st_size > 0
        else:
            assert done.stdout
        named = re.findall(r'"username": "([^"]+)"', comment)
        if named:
            assert {u["username"] for u in json.loads(done.stdout)} >= set(named)


def test_the_readmes_brainstorm_users_lists_the_quick_starts_users(quick_start: str) -> None:
    assert "brainstorm users          # the quick start's users 1, 2 and 3" in README
    shown = run_module("brainstorm.cli", "users", env={**os.environ, "BRAINSTORM_DATABASE_URL": quick_start})
    assert shown.returncode == 0, shown.stderr
    assert [line.split()[0] for line in shown.stdout.splitlines()[1:]] == ["1", "2", "3"]
