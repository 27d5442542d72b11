"""Property-based round trips through every driver (one database per test function).

Hypothesis reuses a test function's fixtures across its examples, so every example saves under a
user id of its own.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
from collections.abc import Callable
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import brainstorm.database_drivers as db_drivers
from brainstorm.testing.helpers import assert_same, assert_snapshot_holds, expected_of, make_image, utc_millis

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
USER_IDS = itertools.count(1)
MIN_TIME, MAX_TIME = dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1)

dtypes = st.one_of(
    hnp.boolean_dtypes(),
    hnp.integer_dtypes(endianness="?"),
    hnp.unsigned_integer_dtypes(endianness="?"),
    hnp.floating_dtypes(endianness="?"),
    hnp.complex_number_dtypes(endianness="?"),
)
LAYOUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "c": lambda a: a,
    "fortran": np.asfortranarray,
    "transposed": lambda a: a.T,
    "strided": lambda a: a[::2] if a.ndim else a,
    "reversed": lambda a: a[::-1] if a.ndim else a,
}
arrays = st.builds(
    lambda array, layout: LAYOUTS[layout](array),
    hnp.arrays(dtypes, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)),
    st.sampled_from(sorted(LAYOUTS)),
)
images = st.builds(
    make_image,
    st.sampled_from(["1", "L", "LA", "P", "RGB", "RGBA", "I", "F", "I;16"]),
    st.tuples(st.integers(1, 12), st.integers(1, 12)),
    st.integers(),
)
payloads = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=300).map(bytearray),
    st.binary(max_size=300).map(io.BytesIO),
    arrays,
    images,
)
timezones: st.SearchStrategy[dt.tzinfo | None] = st.one_of(
    st.none(), st.builds(dt.timezone, st.timedeltas(dt.timedelta(hours=-23), dt.timedelta(hours=23)))
)
datetimes = st.datetimes(MIN_TIME, MAX_TIME, timezones=timezones)  # type: ignore[arg-type]  # hypothesis overloads on naive or aware
text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"), max_size=20)
keys = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters=".\0"), min_size=1, max_size=10).filter(
    lambda key: not key.startswith("$")
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
    datetimes,
)


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    objects = st.dictionaries(keys, children, max_size=4)
    return objects | st.lists(scalars | objects, max_size=4)  # never a list directly inside a list


json_values = st.recursive(scalars, containers, max_leaves=15)
result_values = st.recursive(scalars | payloads, containers, max_leaves=8)
result_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,63}", fullmatch=True).filter(
    lambda name: name not in ("user_id", "datetime", "snapshot_id", "available_results")
)
results = st.dictionaries(keys, result_values, max_size=5)


@SETTINGS
@given(array=arrays)
def test_arrays_round_trip(store: db_drivers.Driver, array: np.ndarray) -> None:
    user_id = next(USER_IDS)
    snapshot_id = store.save_snapshot({"user_id": user_id, "datetime": 0, "depth": {"data": array}})
    result = store.get_result(user_id, snapshot_id, "depth")
    assert result is not None
    assert_same(result["data"], array, "data")


@SETTINGS
@given(snapshot=st.dictionaries(result_names, results, max_size=3), when=datetimes)
def test_results_round_trip(store: db_drivers.Driver, snapshot: dict[str, Any], when: dt.datetime) -> None:
    user_id = next(USER_IDS)
    expected = expected_of(snapshot)
    snapshot_id = store.save_snapshot({"user_id": user_id, "datetime": when, **snapshot})
    assert_snapshot_holds(store, user_id, snapshot_id, utc_millis(when), expected)


@SETTINGS
@given(
    fields=st.lists(
        st.dictionaries(keys.filter(lambda k: k not in ("user_id", "_id")), json_values, max_size=5),
        min_size=1,
        max_size=3,
    )
)
def test_users_keep_the_latest_value_of_every_field(driver: db_drivers.Driver, fields: list[dict[str, Any]]) -> None:
    user_id = next(USER_IDS)
    merged: dict[str, Any] = {"user_id": user_id}
    for update in fields:
        driver.save_user({"user_id": user_id, **update})
        merged.update(expected_of(update))
    assert_same(driver.get_user(user_id), merged, "user")


@SETTINGS
@given(moments=st.lists(datetimes | st.integers(-(2**41), 2**41), min_size=1, max_size=8))
def test_snapshots_are_identified_by_their_millisecond(driver: db_drivers.Driver, moments: list[Any]) -> None:
    user_id = next(USER_IDS)
    normalized = [
        utc_millis(m) if isinstance(m, dt.datetime) else dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=m)
        for m in moments
    ]
    first_ids: dict[dt.datetime, int] = {}
    for moment, when in zip(moments, normalized, strict=True):
        snapshot_id = driver.save_snapshot({"user_id": user_id, "datetime": moment})
        assert first_ids.setdefault(when, snapshot_id) == snapshot_id
    assert sorted(first_ids.values()) == list(range(1, len(first_ids) + 1))
    assert driver.get_snapshots(user_id) == [
        {"snapshot_id": first_ids[when], "datetime": when} for when in sorted(first_ids)
    ]
