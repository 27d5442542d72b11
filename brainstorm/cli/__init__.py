"""The command line that reads and tends the database: `brainstorm` (console script), `python -m brainstorm.cli`.

    brainstorm users
    brainstorm user USER_ID
    brainstorm snapshots USER_ID
    brainstorm snapshot USER_ID SNAPSHOT_ID
    brainstorm result USER_ID SNAPSHOT_ID RESULT_NAME [--save PATH] [--key KEY]
    brainstorm delete USER_ID [SNAPSHOT_ID [RESULT_NAME]] [--yes]
    brainstorm verify [--user USER_ID]
    brainstorm gc [--dry-run] [--grace DURATION]
    brainstorm migrate
    brainstorm serve [--host 127.0.0.1] [--port 8000]
    brainstorm copy SRC_URL DST_URL [--verify]

Readable tables by default, `--json` for scripts; `-d/--database URL` on any command (default:
`$BRAINSTORM_DATABASE_URL`, else the embedded SQLite file, see `brainstorm.settings`).
"""

from __future__ import annotations

from ._commands import main

__all__ = ["main"]
