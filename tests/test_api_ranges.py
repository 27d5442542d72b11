"""The API's answer to Range, If-Range and If-None-Match (RFC 9110), as a pure function of the headers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brainstorm.api._ranges import Answer, answer, content_range, parse_range

ETAG = '"c3ecaa333217d6d2"'
N = 10_000


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, Answer(200, 0, N)),
        ({"range": "bytes=0-0"}, Answer(206, 0, 1)),
        ({"range": "bytes=1000-1999"}, Answer(206, 1000, 2000)),
        ({"range": "BYTES = 1000-1999"}, Answer(206, 1000, 2000)),  # the unit is case-insensitive
        ({"range": "bytes=1000-"}, Answer(206, 1000, N)),
        ({"range": "bytes=-500"}, Answer(206, N - 500, N)),
        ({"range": f"bytes=-{N * 5}"}, Answer(206, 0, N)),  # a suffix longer than the payload: all of it
        ({"range": f"bytes=9000-{N * 5}"}, Answer(206, 9000, N)),  # a last byte past the end: up to the end
        ({"range": "bytes=0-99,,"}, Answer(206, 0, 100)),  # empty list elements are allowed
        ({"range": f"bytes={N}-"}, Answer(416)),
        ({"range": f"bytes={N}-{N + 5}"}, Answer(416)),
        ({"range": "bytes=-0"}, Answer(416)),
        ({"range": f"bytes={N}-,{N + 1}-"}, Answer(416)),  # several ranges, none satisfiable
        ({"range": "bytes=0-1,4-5"}, Answer(200, 0, N)),  # several ranges: the whole payload, never multipart
        ({"range": f"bytes=0-1,{N}-"}, Answer(200, 0, N)),
        ({"range": "bytes=5-1"}, Answer(200, 0, N)),  # malformed: ignored
        ({"range": "items=0-5"}, Answer(200, 0, N)),
        ({"range": "bytes=abc"}, Answer(200, 0, N)),
        ({"range": "bytes="}, Answer(200, 0, N)),
        ({"range": "bytes=0-1-2"}, Answer(200, 0, N)),
        ({"range": "bytes=+1-2"}, Answer(200, 0, N)),
        ({"range": "bytes=" + ",".join(["0-0"] * 101)}, Answer(200, 0, N)),  # absurdly many: ignored
        ({"range": "bytes=0-9", "if-range": ETAG}, Answer(206, 0, 10)),
        ({"range": "bytes=0-9", "if-range": '"another"'}, Answer(200, 0, N)),
        ({"range": "bytes=0-9", "if-range": f"W/{ETAG}"}, Answer(200, 0, N)),  # If-Range compares strongly
        ({"range": "bytes=0-9", "if-range": "Wed, 02 Dec 2026 10:00:00 GMT"}, Answer(200, 0, N)),
        ({"if-none-match": ETAG}, Answer(304)),
        ({"if-none-match": f"W/{ETAG}"}, Answer(304)),  # If-None-Match compares weakly
        ({"if-none-match": f'"x", {ETAG}'}, Answer(304)),
        ({"if-none-match": "*"}, Answer(304)),
        ({"if-none-match": '"x"'}, Answer(200, 0, N)),
        ({"if-none-match": "garbage"}, Answer(200, 0, N)),
        ({"if-none-match": ETAG, "range": "bytes=0-9"}, Answer(304)),
    ],
)
def test_a_get_is_answered_as_rfc_9110_says(headers: dict[str, str], expected: Answer) -> None:
    assert answer("GET", headers, N, ETAG) == expected


def test_a_head_ignores_range_but_not_if_none_match() -> None:
    assert answer("HEAD", {"range": "bytes=0-9"}, N, ETAG) == Answer(200, 0, N)
    assert answer("HEAD", {"if-none-match": ETAG}, N, ETAG) == Answer(304)


def test_an_empty_payload_satisfies_no_range() -> None:
    assert answer("GET", {"range": "bytes=0-"}, 0, ETAG) == Answer(416)
    assert answer("GET", {"range": "bytes=-5"}, 0, ETAG) == Answer(416)
    assert answer("GET", {}, 0, ETAG) == Answer(200, 0, 0)


def test_content_range_names_the_bytes_sent_or_the_length() -> None:
    assert content_range(Answer(206, 1000, 2000), N) == f"bytes 1000-1999/{N}"
    assert content_range(Answer(416), N) == f"bytes */{N}"


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 10**6))
def test_a_satisfiable_single_range_is_exactly_the_bytes_asked_for(first: int, extra: int, length: int) -> None:
    last = first + extra
    got = answer("GET", {"range": f"bytes={first}-{last}"}, length, ETAG)
    if first >= length:
        assert got == Answer(416)
    else:
        assert got == Answer(206, first, min(last + 1, length))
        assert 0 < got.length <= length


@given(st.text(max_size=40))
def test_no_range_header_breaks_the_parser(header: str) -> None:
    spans = parse_range(header)
    got = answer("GET", {"range": header}, N, ETAG)
    assert got.status in (200, 206, 416)
    assert 0 <= got.start <= got.stop <= N
    if spans is None:
        assert got == Answer(200, 0, N)
