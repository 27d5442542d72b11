"""`Saver`: saves parser messages (a user, a snapshot's time and one result) into any database."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import brainstorm.database_drivers as db_drivers
from brainstorm import settings

from . import _message
from ._message import Message, MessageData
from ._payloads import open_payloads

Status = Literal["new", "updated", "unchanged"]


@dataclass(frozen=True)
class Saved:
    """What one `save` did.

    `status` is "new" when the snapshot had no such result before, "unchanged" when the result and
    the user read back exactly as before (same fields, same payload checksums), else "updated".
    `payload_bytes` is the size of the files the message named by path.
    """

    user_id: int
    snapshot_id: int
    datetime: dt.datetime
    result_name: str
    status: Status
    payload_bytes: int


class Saver:
    """Saves parser messages into the database at `database_url` (see `brainstorm.settings` for the default).

    Saving is idempotent: the same message saved again changes nothing and stores no extra bytes
    (the drivers skip payloads whose bytes are already stored at that place).
    """

    def __init__(self, database_url: str | None = None) -> None:
        self.database_url = settings.database_url(database_url)
        self.driver = db_drivers.connect(self.database_url)
        self._snapshot_ids: dict[int, dict[dt.datetime, int]] = {}

    def save(
        self,
        result_name: str,
        data: MessageData,
        *,
        base_dir: str | os.PathLike[str] | None = None,
        allowed_dirs: Iterable[str | os.PathLike[str]] = (),
    ) -> Saved:
        """Save the user and the result `result_name` of the snapshot a message describes.

        `data` is JSON text (Extended JSON accepted) or a parsed mapping. Files named by `"path"` in
        the result are resolved against `base_dir` (default: the current directory), streamed into
        the database and replaced by `"data"`. A message comes from elsewhere, so those files must be
        regular files inside `base_dir` or one of `allowed_dirs` once symlinks are resolved.
        Everything is checked and every file opened before anything is written: a bad message
        (InvalidInput / InvalidType) or a refused or unreadable file (PayloadFileError) leaves the
        database as it was.
        """
        message = _message.check(_message.load(data), result_name)
        base = os.getcwd() if base_dir is None else base_dir
        with open_payloads(message.result, result_name, base, allowed_dirs) as payloads:
            before = self._stored(message)
            # The snapshot first: it is checked whole (payloads included) before the driver writes anything,
            # and the user was checked above, so a message is never saved half.
            snapshot_id = self.driver.save_snapshot(
                {"user_id": message.user_id, "datetime": message.datetime, result_name: payloads.value}
            )
            self.driver.save_user(message.user)
        self._known_snapshots(message.user_id)[message.datetime] = snapshot_id
        status: Status = "new"
        if before is not None:
            status = "unchanged" if before == self._stored(message) else "updated"
        return Saved(message.user_id, snapshot_id, message.datetime, result_name, status, payloads.size)

    def save_message(
        self,
        data: MessageData,
        *,
        base_dir: str | os.PathLike[str] | None = None,
        allowed_dirs: Iterable[str | os.PathLike[str]] = (),
    ) -> Saved:
        """`save` under the name of the one result the message carries (refused if it carries none or several)."""
        message = _message.load(data)
        return self.save(_message.result_name_of(message), message, base_dir=base_dir, allowed_dirs=allowed_dirs)

    def close(self) -> None:
        """Close the database connection."""
        self.driver.close()

    def __enter__(self) -> Saver:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Saver({self.driver!r})"

    def _known_snapshots(self, user_id: int) -> dict[dt.datetime, int]:
        """{datetime: snapshot_id} of a user's snapshots, read once per saver and kept up to date by it."""
        if user_id not in self._snapshot_ids:
            self._snapshot_ids[user_id] = {s["datetime"]: s["snapshot_id"] for s in self.driver.get_snapshots(user_id)}
        return self._snapshot_ids[user_id]

    def _stored(self, message: Message) -> tuple[Any, ...] | None:
        """What is stored now for this message's result and user (fields and payload checksums, never
        payload bytes), or None if the result is not stored yet. A snapshot another process created
        since this saver first looked at the user counts as not stored."""
        snapshot_id = self._known_snapshots(message.user_id).get(message.datetime)
        if snapshot_id is None:
            return None
        result = self.driver.get_result(message.user_id, snapshot_id, message.result_name)
        if result is None:
            return None
        blobs = result.blobs
        holding_payloads = {path.split(".")[0] for path in blobs}
        fields = {key: result[key] for key in result if key not in holding_payloads}
        return fields, blobs, self.driver.get_user(message.user_id)
