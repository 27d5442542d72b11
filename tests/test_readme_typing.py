"""The README's typed example, checked by mypy --strict as a user's script, and run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def typed_example() -> str:
    """The README's code block that shows typed access to a driver class."""
    blocks = [block for block in PYTHON_BLOCK.findall((ROOT / "README.md").read_text()) if "driver_class(" in block]
    assert len(blocks) == 1, "the README has one typed example"
    return str(blocks[0])


def mypy(script: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_readme_typed_example_passes_mypy_strict_and_runs(tmp_path: Path) -> None:
    script = tmp_path / "user_script.py"
    script.write_text(typed_example())
    checked = mypy(script, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    ran = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr


def test_indexing_the_module_is_what_mypy_cannot_type(tmp_path: Path) -> None:
    script = tmp_path / "user_script.py"
    script.write_text(typed_example().replace('driver_class("sqlite")', 'db_drivers["sqlite"]'))
    checked = mypy(script, tmp_path)
    assert checked.returncode == 1 and "not indexable" in checked.stdout
