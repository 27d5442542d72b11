"""Where brainstorm's tools find their database, so every command resolves it the same way.

The database URL is, in order of precedence:

1. the URL given explicitly (a `-d/--database` option, or an argument to `Saver`);
2. the environment variable `BRAINSTORM_DATABASE_URL` (ignored when empty);
3. the embedded default: the SQLite file `$XDG_DATA_HOME/brainstorm/brainstorm.db`, where
   `XDG_DATA_HOME` defaults to `~/.local/share` (and, as the XDG spec says, is ignored when it is not
   an absolute path). Its directory is created when the default is used, so a new user needs no
   setup and no server.

Pointing every tool at MongoDB is one line: `export BRAINSTORM_DATABASE_URL=mongodb://host:27017/db`.
"""

from __future__ import annotations

import os
from pathlib import Path

DATABASE_URL_ENV = "BRAINSTORM_DATABASE_URL"
DATA_HOME_ENV = "XDG_DATA_HOME"
DATABASE_FILE_NAME = "brainstorm.db"


def data_home() -> Path:
    """`$XDG_DATA_HOME`, or `~/.local/share` when it is unset, empty or relative (per the XDG spec)."""
    value = os.environ.get(DATA_HOME_ENV, "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".local" / "share"


def default_database_path() -> Path:
    """The embedded default database file: `<data home>/brainstorm/brainstorm.db`."""
    return data_home() / "brainstorm" / DATABASE_FILE_NAME


def default_database_url() -> str:
    """The embedded default as a URL (`sqlite:////abs/path/brainstorm.db`), its directory created."""
    path = default_database_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def database_url(explicit: str | None = None) -> str:
    """The database URL to use: `explicit`, else `$BRAINSTORM_DATABASE_URL`, else the embedded default.

    Only the default touches the file system (it creates the default file's directory); the URL
    itself is checked when a driver connects to it.
    """
    if explicit:
        return explicit
    if from_env := os.environ.get(DATABASE_URL_ENV):
        return from_env
    return default_database_url()
