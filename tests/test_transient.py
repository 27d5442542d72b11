"""Which server errors the mongodb driver sends a command again for, and how long it keeps trying.

The errors are the ones pymongo raises for the replies seen from FerretDB v2 on DocumentDB and from
MongoDB (the replies are quoted as the server sent them); a duplicate key is also made on the real server.
"""

from __future__ import annotations

from collections.abc import Callable

import pymongo
import pytest
from pymongo import errors as mongo_errors

from brainstorm.database_drivers import DatabaseUnavailable, _transient
from brainstorm.database_drivers._transient import TryAgain, duplicate_key, retried, transient_cause


def failure(message: str, code: int, name: str = "", labels: tuple[str, ...] = ()) -> mongo_errors.OperationFailure:
    reply = {"ok": 0.0, "errmsg": message, "code": code, "codeName": name, "errorLabels": list(labels)}
    return mongo_errors.OperationFailure(message, code, reply)


def write_error(message: str, code: int) -> mongo_errors.WriteError:
    return mongo_errors.WriteError(message, code, {"index": 0, "code": code, "errmsg": message})


def bulk_error(message: str, code: int, inserted: int) -> mongo_errors.BulkWriteError:
    details = {"writeErrors": [{"index": inserted, "code": code, "errmsg": message}], "nInserted": inserted}
    return mongo_errors.BulkWriteError(details)


DEADLOCK = failure("deadlock detected", 1, "InternalError")  # FerretDB v2: a statement PostgreSQL aborted
ABORTED = failure("Transaction aborted", 251, "NoSuchTransaction", ("TransientTransactionError",))
TRANSIENT: dict[str, tuple[BaseException, bool]] = {
    "FerretDB's deadlock, an InternalError": (DEADLOCK, False),
    "FerretDB's deadlock, as a write error (SQLSTATE 40P01)": (write_error("deadlock detected", 16908292), False),
    "a serialisation failure (SQLSTATE 40001)": (write_error("could not serialize access", 16777220), False),
    "MongoDB's WriteConflict": (failure("WriteConflict error", 112, "WriteConflict"), False),
    "the TransientTransactionError label": (ABORTED, False),
    "a deadlock in an insert_many": (bulk_error("deadlock detected", 16908292, 3), False),
    "a duplicate key on an upsert": (mongo_errors.DuplicateKeyError("E11000 duplicate key error", 11000), True),
    "an exclusion violation on an upsert (SQLSTATE 23P01)": (
        write_error("conflicting key value violates exclusion constraint", 16908482),
        True,
    ),
    "an InternalError naming the exclusion constraint, on an upsert": (
        failure('conflicting key value violates exclusion constraint "x"', 1, "InternalError"),
        True,
    ),
    "a lost race, as an attempt says": (TryAgain("another writer took the id"), False),
}
NOT_TRANSIENT: dict[str, tuple[BaseException, bool]] = {
    "a duplicate key on a plain insert (an answer: the key is taken)": (
        mongo_errors.DuplicateKeyError("E11000 duplicate key error", 11000),
        False,
    ),
    "refused credentials": (failure("Authentication failed.", 18, "AuthenticationFailed"), False),
    "a document too large": (write_error("object to insert exceeds 16MiB", 10334), True),
    "a bad query": (failure("unknown operator: $bogus", 2, "BadValue"), False),
    "a network error (pymongo's own business)": (mongo_errors.AutoReconnect("connection reset"), False),
    "a plain Python error": (ValueError("a bug"), True),
}


@pytest.mark.parametrize(("error", "upsert"), TRANSIENT.values(), ids=TRANSIENT.keys())
def test_errors_that_say_the_command_was_not_applied_are_transient(error: BaseException, upsert: bool) -> None:
    assert transient_cause(error, upsert=upsert)


@pytest.mark.parametrize(("error", "upsert"), NOT_TRANSIENT.values(), ids=NOT_TRANSIENT.keys())
def test_other_errors_are_not(error: BaseException, upsert: bool) -> None:
    assert transient_cause(error, upsert=upsert) is None


def test_a_duplicate_key_from_the_real_server_is_recognised(mongodb_url: str) -> None:
    with pymongo.MongoClient(mongodb_url, serverSelectionTimeoutMS=5000) as client:
        collection = client.get_default_database()["dups"]
        collection.create_index("k", unique=True)
        collection.insert_one({"k": 1})
        with pytest.raises(mongo_errors.OperationFailure) as raised:
            collection.insert_one({"k": 1})
        assert duplicate_key(raised.value)
        assert transient_cause(raised.value) is None
        assert transient_cause(raised.value, upsert=True)
        with pytest.raises(mongo_errors.BulkWriteError) as bulk:
            collection.insert_many([{"k": 2}, {"k": 1}, {"k": 3}])
        assert duplicate_key(bulk.value) and bulk.value.details["nInserted"] == 1


def failing(errors: list[BaseException]) -> Callable[..., str]:
    """A command that raises each of `errors` in turn, then answers 'done' with the arguments it got."""

    def command(*args: object, **kwargs: object) -> str:
        if errors:
            raise errors.pop(0)
        return f"done {args} {kwargs}"

    return command


def test_a_command_is_sent_again_until_it_succeeds() -> None:
    command = failing([DEADLOCK, DEADLOCK, TryAgain("lost")])
    assert retried(command, 1, upsert=True) == "done (1,) {'upsert': True}"


def test_a_duplicate_key_is_retried_for_an_upsert_only() -> None:
    duplicate = mongo_errors.DuplicateKeyError("E11000 duplicate key error", 11000)
    assert retried(failing([duplicate]), upsert=True).startswith("done")
    with pytest.raises(mongo_errors.DuplicateKeyError):
        retried(failing([duplicate]))


def test_another_error_is_raised_at_once() -> None:
    errors: list[BaseException] = [failure("unknown operator: $bogus", 2, "BadValue"), DEADLOCK]
    with pytest.raises(mongo_errors.OperationFailure, match="bogus"):
        retried(failing(errors))
    assert errors == [DEADLOCK], "sent once"


def test_when_the_budget_runs_out_it_is_database_unavailable_naming_the_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_transient, "RETRY_SECONDS", 0.05)
    errors: list[BaseException] = [DEADLOCK] * 10_000
    with pytest.raises(DatabaseUnavailable, match=r"kept refusing a write as transient \(deadlock detected\)"):
        retried(failing(errors))
    assert len(errors) < 10_000 - 2, "it was tried several times"
