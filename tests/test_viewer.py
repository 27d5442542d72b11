"""The web viewer in a real browser: Debian's chromium, driven by Playwright, against a real `brainstorm serve`
holding the fixture dataset. The test clicks its way to a snapshot as a user does, then steps with the keys.

Chromium is Debian's (`make test-packages` installs it), never one Playwright downloads. A missing chromium fails
the test: a suite that skips it would pass without ever having looked at the page.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

import brainstorm.database_drivers as db_drivers
from tests import dataset
from tests.serving import Server, serving

TIMEOUT_MS = 30_000  # generous: a loaded CI machine; every wait ends as soon as its condition holds
FEELINGS = ("hunger", "thirst", "exhaustion", "happiness")
HOSTILE = '<img src="x" onerror="window.hacked = 1"><b>Mallory</b>'  # a stored name that must stay text
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chromium_path() -> str:
    path = shutil.which("chromium") or (Path("/usr/bin/chromium").is_file() and "/usr/bin/chromium")
    if not path:
        pytest.fail("chromium is not installed: run `make test-packages` (Debian's package; the viewer tests need it)")
    return path


@dataclass
class Stored:
    """What the test saved: the database's URL and each saved snapshot by (user_id, snapshot_id)."""

    url: str
    snapshots: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)

    def of_user(self, user_id: int) -> list[tuple[int, dict[str, Any]]]:
        """A user's (snapshot_id, snapshot) by datetime, as the API lists them."""
        mine = [(sid, s) for (uid, sid), s in self.snapshots.items() if uid == user_id]
        return sorted(mine, key=lambda item: item[1]["datetime"])


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Stored:
    url = f"sqlite:///{tmp_path_factory.mktemp('viewer') / 'db.sqlite'}"
    saved = Stored(url)
    with db_drivers.connect(url) as driver:
        for user in [*dataset.users(), {"user_id": 666, "username": HOSTILE}]:
            driver.save_user(user)
        for snapshot in dataset.snapshots():
            expected = json.loads(
                json.dumps({k: v for k, v in snapshot.items() if k in ("datetime", "pose", "feelings")})
            )
            saved.snapshots[snapshot["user_id"], driver.save_snapshot(snapshot)] = expected
    return saved


@pytest.fixture(scope="module")
def server(stored: Stored) -> Iterator[Server]:
    with serving(stored.url) as running:
        yield running
    assert "Traceback" not in running.logged(), running.logged()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, headless=True)
        yield launched
        launched.close()


@dataclass
class Watched:
    """A page, and every sign of trouble it showed: console errors, uncaught exceptions, failed requests."""

    page: Page
    problems: list[str]


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []

    def console(message: Any) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    def response(answer: Any) -> None:
        if answer.status >= 400:
            problems.append(f"HTTP {answer.status}: {answer.request.method} {answer.url}")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}: {request.failure}"))
    page.on("response", response)
    yield Watched(page, problems)
    context.close()


def shown_datetime(milliseconds: int) -> str:
    """How the viewer shows a snapshot's datetime: `2019-12-04 10:08:07.381 UTC`."""
    when = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=milliseconds)
    return when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d} UTC"


def api_json(server: Server, path: str) -> Any:
    with urllib.request.urlopen(server.url + path, timeout=30) as reply:
        return json.load(reply)


def wait_loaded(page: Page, image: Locator) -> dict[str, int]:
    """Wait for an <img> to have loaded a picture; its natural size."""
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    return image.evaluate("img => ({width: img.naturalWidth, height: img.naturalHeight})")


def check_value(cell: Locator, expected: float) -> None:
    """A cell shows the stored number to 3 decimals, and holds it whole in its title."""
    expect(cell).to_have_text(re.compile(r"^-?\d+\.\d{3}$"))
    assert float(cell.get_attribute("title") or "nan") == expected
    assert abs(float(cell.inner_text()) - expected) <= 0.0005


def check_snapshot(page: Page, server: Server, stored: Stored, user_id: int, position: int) -> None:
    """The page shows the user's snapshot at `position` (by datetime): its URL, heading, datetime, results."""
    snapshots = stored.of_user(user_id)
    snapshot_id, snapshot = snapshots[position]
    expect(page.get_by_role("heading", level=2)).to_have_text(f"Snapshot {snapshot_id}")
    expect(page).to_have_url(re.compile(rf"#/users/{user_id}/snapshots/{snapshot_id}$"))
    expect(page.locator("main")).to_have_attribute("aria-busy", "false")  # its feelings chart drawn too
    expect(page.locator("main time")).to_have_text(shown_datetime(snapshot["datetime"]))
    expect(page.get_by_role("button", name="← Previous")).to_be_enabled(enabled=position > 0)
    expect(page.get_by_role("button", name="Next →")).to_be_enabled(enabled=position < len(snapshots) - 1)

    pose = page.get_by_role("region", name="Pose")
    for part, values in snapshot["pose"].items():
        for axis, value in values.items():
            check_value(pose.locator(f'td[data-field="{part}.{axis}"]'), value)
    feelings = page.get_by_role("region", name="Feelings", exact=True)
    for name in FEELINGS:
        check_value(feelings.locator(f'td[data-field="{name}"]'), snapshot["feelings"][name])

    # The pictures: loaded, at the stored size, with the payload's size, sha256 and download link beside.
    for result, alt in (("color_image", "Colour image"), ("depth_image", "Depth map")):
        described = api_json(server, f"users/{user_id}/snapshots/{snapshot_id}/{result}")
        payload = described["payloads"]["data"]
        section = page.get_by_role("region", name=alt)
        image = section.get_by_role("img", name=re.compile(rf"^{alt} of snapshot {snapshot_id}\b"))
        size = wait_loaded(page, image)
        assert size == {"width": described["fields"]["width"], "height": described["fields"]["height"]}
        sha = section.locator("code.sha")
        expect(sha).to_have_attribute("title", payload["sha256"])
        expect(sha).to_have_text(payload["sha256"][:12] + "…")
        expect(section.get_by_title(f"{payload['length']} bytes")).to_have_text(re.compile(r"^\d+(\.\d)? (KiB|bytes)$"))
        link = section.get_by_role("link", name="Download data")
        expect(link).to_have_attribute("download", "")
        assert link.evaluate("a => a.href") == server.url + payload["url"].lstrip("/")

    # The chart: one point per snapshot for each feeling; this snapshot's point marked on every line.
    chart = page.locator("svg.chart")
    for name in FEELINGS:
        points = chart.locator(f'g[data-feeling="{name}"] circle')
        expect(points).to_have_count(len(snapshots))
        marked = points.evaluate_all("circles => circles.findIndex(c => c.classList.contains('current'))")
        assert marked == position, f"{name}: point {marked} marked, not {position}"
    expect(chart.locator("line.current")).to_have_count(1)


def test_browse_to_a_snapshot_and_step_through_them(
    watched: Watched, server: Server, stored: Stored, tmp_path: Path
) -> None:
    page = watched.page
    user = dataset.users()[0]
    snapshots = stored.of_user(user["user_id"])
    assert len(snapshots) >= 3, "the fixture dataset needs a user with 3 snapshots to step both ways"

    page.goto(server.url)
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    page.get_by_role("link", name=user["username"], exact=True).click()
    expect(page).to_have_url(re.compile(rf"#/users/{user['user_id']}$"))
    expect(page.get_by_role("heading", level=2)).to_have_text(user["username"])
    expect(page.locator("main")).to_have_attribute("aria-busy", "false")
    expect(page.locator("svg.chart g[data-feeling] circle")).to_have_count(len(FEELINGS) * len(snapshots))

    page.get_by_role("link", name=f"Snapshot {snapshots[1][0]}", exact=True).click()
    check_snapshot(page, server, stored, user["user_id"], 1)
    page.keyboard.press("ArrowRight")
    check_snapshot(page, server, stored, user["user_id"], 2)
    page.keyboard.press("ArrowLeft")
    check_snapshot(page, server, stored, user["user_id"], 1)
    page.get_by_role("button", name="← Previous").click()
    check_snapshot(page, server, stored, user["user_id"], 0)
    page.keyboard.press("ArrowLeft")  # the first snapshot: nothing before it
    page.go_back()  # the browser's back button: the snapshot shown before
    check_snapshot(page, server, stored, user["user_id"], 1)
    page.locator("svg.chart a.column").nth(2).click()  # the chart's column of a snapshot links to it
    check_snapshot(page, server, stored, user["user_id"], 2)
    page.go_back()
    check_snapshot(page, server, stored, user["user_id"], 1)

    screenshot = tmp_path / "viewer.png"
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE) and screenshot.stat().st_size > 1000
    assert watched.problems == []


def test_the_apis_errors_are_shown(watched: Watched, server: Server) -> None:
    page = watched.page
    page.goto(f"{server.url}#/users/42/snapshots/999")
    expect(page.get_by_role("alert")).to_contain_text("404: user 42 has no snapshot 999")
    page.goto(f"{server.url}#/users/999")
    expect(page.get_by_role("alert")).to_contain_text("404: no user 999")
    expect(page.get_by_role("link", name="Back to the users")).to_be_visible()
    # The browser logs each 404 it was answered; nothing else went wrong.
    unexpected = [
        problem
        for problem in watched.problems
        if not re.search(r"status of 404|^HTTP 404: GET .*/users/(42/snapshots/999|999)(/snapshots)?$", problem)
    ]
    assert unexpected == []


def test_stored_text_stays_text(watched: Watched, server: Server) -> None:
    page = watched.page
    page.goto(server.url)
    link = page.get_by_role("link", name=HOSTILE, exact=True)
    link.click()
    expect(page.get_by_role("heading", level=2)).to_have_text(HOSTILE)
    expect(page.locator("main")).to_have_attribute("aria-busy", "false")
    assert page.locator("main img, main b").count() == 0
    assert page.evaluate("window.hacked") is None
    assert watched.problems == []
