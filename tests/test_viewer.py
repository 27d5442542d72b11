"""The web viewer in a real browser: Debian's chromium, driven by Playwright, against a real `brainstorm serve`.

The data arrives as users' data does: the pipeline's message files, imported by the saver's own command
line (so the colour image is a parser's PNG file kept as bytes, and the depth map a parser's `.npy`).
Beside it, a user with 10,000 snapshots, and one whose name is hostile HTML. The browser runs in a
time zone other than UTC, so that local times are seen to be local.

Each view's screenshot is written to `$BRAINSTORM_TEST_OUTPUT/viewer/` (default `build/test-output/`),
for a reviewer to look at. Chromium is Debian's (`make test-packages` installs it), never one
Playwright downloads. A missing chromium fails the test: a suite that skips it would pass without
ever having looked at the page.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import time
import urllib.request
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, Locator, Page, Position, expect, sync_playwright

import brainstorm.database_drivers as db_drivers
from fixtures.pipeline.generate import User, generate
from tests.conftest import ROOT, run_module
from tests.serving import Server, serving

TIMEOUT_MS = 30_000  # generous: a loaded CI machine; every wait ends as soon as its condition holds
FEELINGS = ("hunger", "thirst", "exhaustion", "happiness")
HOSTILE = '<img src="x" onerror="window.hacked = 1"><b>Mallory</b>'  # a stored name that must stay text
ZONE = "Asia/Kolkata"  # +05:30 all year: local times differ from UTC, by a half hour too
USERS = (User(1, "Alice Carmel", 631152000, "f", 30), User(2, "Boris Nadir", 478310400, "m", 3))
IMAGE_SIZE, DEPTH_SHAPE = (320, 180), (86, 112)
MANY, MANY_SNAPSHOTS = 5000, 10_000
OUTPUT = Path(os.environ.get("BRAINSTORM_TEST_OUTPUT", ROOT / "build" / "test-output")) / "viewer"


def chromium_path() -> str:
    path = shutil.which("chromium") or (Path("/usr/bin/chromium").is_file() and "/usr/bin/chromium")
    if not path:
        pytest.fail("chromium is not installed: run `make test-packages` (Debian's package; the viewer tests need it)")
    return path


@dataclass
class Stored:
    """The database's URL and the message files it was imported from."""

    url: str
    messages: Path

    def snapshots(self, user_id: int) -> list[dict[str, Any]]:
        """A user's snapshots as the API lists them, by datetime (read back through the library)."""
        with db_drivers.connect(self.url) as driver:
            return driver.get_snapshots(user_id)

    def message(self, user_id: int, position: int, result: str) -> dict[str, Any]:
        folder = sorted((self.messages / str(user_id)).iterdir(), key=lambda p: int(p.name))[position]
        return json.loads((folder / f"{result}.json").read_text())  # type: ignore[no-any-return]

    def depth(self, user_id: int, position: int) -> np.ndarray:
        folder = sorted((self.messages / str(user_id)).iterdir(), key=lambda p: int(p.name))[position]
        return np.asarray(np.load(folder / "depth_image.npy"))


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Stored:
    root = tmp_path_factory.mktemp("viewer")
    url = f"sqlite:///{root / 'db.sqlite'}"
    generate(root / "messages", users=USERS, image_size=IMAGE_SIZE, depth_shape=DEPTH_SHAPE)
    imported = run_module("brainstorm.saver", "import", root / "messages", "-d", url, env=dict(os.environ))
    assert imported.returncode == 0, imported.stderr
    start = dt.datetime(2019, 12, 4, 10, 0, tzinfo=dt.UTC)
    rng = np.random.default_rng(5)
    with db_drivers.connect(url) as driver:
        driver.save_user({"user_id": 666, "username": HOSTILE})
        driver.save_user({"user_id": MANY, "username": "Many Snapshots"})
        for i in range(MANY_SNAPSHOTS):
            pause = dt.timedelta(hours=1) if i >= MANY_SNAPSHOTS // 2 else dt.timedelta()  # an hour's gap midway
            feelings = dict(zip(FEELINGS, rng.uniform(-1, 1, 4).round(4).tolist(), strict=True))
            driver.save_snapshot(
                {"user_id": MANY, "datetime": start + dt.timedelta(seconds=i) + pause, "feelings": feelings}
            )
    return Stored(url, root / "messages")


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
    """A page, every sign of trouble it showed (console errors, uncaught exceptions, failed requests),
    and every request it made."""

    page: Page
    problems: list[str]
    requests: list[str]

    def screenshot(self, name: str) -> Path:
        """The page as it looks now, kept for a reviewer; checked to be a real picture."""
        OUTPUT.mkdir(parents=True, exist_ok=True)
        path = OUTPUT / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and path.stat().st_size > 5000
        return path


def watch(browser: Browser, **options: Any) -> Iterator[Watched]:
    context = browser.new_context(timezone_id=ZONE, **({"viewport": {"width": 1200, "height": 900}} | options))
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    requests: list[str] = []

    def console(message: Any) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    def response(answer: Any) -> None:
        if answer.status >= 400:
            problems.append(f"HTTP {answer.status}: {answer.request.method} {answer.url}")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))

    def failed(request: Any) -> None:
        if request.failure != "net::ERR_ABORTED":  # a view left before it was drawn cancels its requests
            problems.append(f"failed: {request.url}: {request.failure}")

    page.on("requestfailed", failed)
    page.on("response", response)
    page.on("request", lambda request: requests.append(request.url))
    yield Watched(page, problems, requests)
    context.close()


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    yield from watch(browser)


def shown_time(when: dt.datetime, zone: str = ZONE) -> str:
    """How the viewer (and the command line) shows a time: `2019-12-04 15:38:08.728 +05:30`, or `… UTC`."""
    local = when.replace(tzinfo=dt.UTC).astimezone(zoneinfo.ZoneInfo(zone))
    offset = local.utcoffset() or dt.timedelta()
    minutes = int(offset.total_seconds()) // 60
    name = "UTC" if not minutes else f"{'+' if minutes > 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return f"{local.replace(tzinfo=None).isoformat(sep=' ', timespec='milliseconds')} {name}"


def api_json(server: Server, path: str) -> Any:
    with urllib.request.urlopen(server.url + path, timeout=30) as reply:
        return json.load(reply)


def drawn(page: Page, image: Locator) -> dict[str, Any]:
    """Wait for an <img> to have loaded; its natural and shown size, and whether its decoded pixels vary."""
    handle = image.element_handle()  # one element throughout, even if the view is drawn again meanwhile
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=handle)
    found: dict[str, Any] = handle.evaluate(
        """img => {
            const canvas = document.createElement('canvas');
            canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
            const context = canvas.getContext('2d');
            context.drawImage(img, 0, 0);
            const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
            const seen = new Set();
            for (let i = 0; i < data.length && seen.size < 50; i += 4 * 7) seen.add(data.slice(i, i + 4).join());
            const opaque = Array.from({length: data.length / 4}, (_, i) => data[i * 4 + 3]).filter((a) => a > 0).length;
            return {width: img.naturalWidth, height: img.naturalHeight, shown: img.getBoundingClientRect().width,
                    colours: seen.size, opaque: opaque / (data.length / 4)};
        }"""
    )
    return found


def check_value(cell: Locator, expected: float) -> None:
    """A cell shows the stored number to 3 decimals, and holds it whole in its title."""
    expect(cell).to_have_text(re.compile(r"^-?\d+\.\d{3}$"))
    assert float(cell.get_attribute("title") or "nan") == expected
    assert abs(float(cell.inner_text()) - expected) <= 0.0005


def check_snapshot(page: Page, server: Server, stored: Stored, user_id: int, position: int) -> None:
    """The page shows the user's snapshot at `position` (by datetime): its URL, heading, time, results, pictures."""
    snapshots = stored.snapshots(user_id)
    snapshot = snapshots[position]
    snapshot_id = snapshot["snapshot_id"]
    expect(page.get_by_role("heading", level=2)).to_have_text(f"Snapshot {snapshot_id}")
    expect(page).to_have_url(re.compile(rf"#/users/{user_id}/snapshots/{snapshot_id}$"))
    expect(page.locator("main")).to_have_attribute("aria-busy", "false")
    time_shown = page.locator(".meta time")
    expect(time_shown).to_have_text(shown_time(snapshot["datetime"]))
    expect(time_shown).to_have_attribute("title", shown_time(snapshot["datetime"], "UTC"))
    expect(page.get_by_role("button", name="← Previous")).to_be_enabled(enabled=position > 0)
    expect(page.get_by_role("button", name="Next →")).to_be_enabled(enabled=position < len(snapshots) - 1)

    pose_message = stored.message(user_id, position, "pose")["pose"]
    pose = page.get_by_role("region", name="Pose")
    for part in ("translation", "rotation"):
        for axis, value in pose_message[part].items():
            check_value(pose.locator(f'td[data-field="{part}.{axis}"]'), value)
    expect(pose.locator("thead th")).to_have_text(["translation (m)", "rotation (unit quaternion)"])
    feelings = page.get_by_role("region", name="Feelings", exact=True)
    expect(feelings.locator(".about")).to_have_text("On a scale from -1 to 1.")
    message = stored.message(user_id, position, "feelings")["feelings"]
    for name in FEELINGS:
        check_value(feelings.locator(f'td[data-field="{name}"]'), float(message[name]["$numberDouble"]))

    # The pictures: drawn, not blank, fitted to their card; the depth map on a numbered colour bar in metres.
    colour = page.get_by_role("region", name="Colour image")
    picture = drawn(page, colour.get_by_role("img", name=f"Colour image of snapshot {snapshot_id}"))
    assert picture["colours"] > 10 and picture["opaque"] == 1 and picture["shown"] > 300, picture
    described = api_json(server, f"users/{user_id}/snapshots/{snapshot_id}/color_image")["payloads"]["data"]
    assert described["kind"] == "bytes" and described["content_type"] == "image/png"
    expect(colour.get_by_role("link", name="Download PNG")).to_have_attribute("download", "")
    depth = page.get_by_role("region", name="Depth map")
    picture = drawn(page, depth.get_by_role("img", name=f"Depth map of snapshot {snapshot_id}"))
    assert picture["colours"] > 10 and picture["opaque"] == 1 and picture["shown"] > 300, picture
    ticks = depth.locator(".colour-ticks span").all_inner_texts()
    assert len(ticks) >= 3 and all(re.fullmatch(r"\d+(\.\d+)?", tick) for tick in ticks), ticks
    expect(depth.locator(".colour-caption")).to_have_text(re.compile(r"^\d+(\.\d+)? to \d+(\.\d+)? m$"))

    # The chart: one point per snapshot for each feeling; this snapshot's point marked on every line.
    chart = page.locator("svg.chart")
    for name in FEELINGS:
        points = chart.locator(f'g[data-feeling="{name}"] circle')
        expect(points).to_have_count(len(snapshots))
        marked = points.evaluate_all("circles => circles.findIndex(c => c.classList.contains('current'))")
        assert marked == position, f"{name}: point {marked} marked, not {position}"
    expect(chart.locator("line.current")).to_have_count(1)


def test_browse_to_a_snapshot_and_step_through_them(watched: Watched, server: Server, stored: Stored) -> None:
    page = watched.page
    snapshots = stored.snapshots(1)
    page.goto(server.url)
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    watched.screenshot("users")
    page.get_by_role("link", name="Alice Carmel", exact=True).click()
    expect(page).to_have_url(re.compile(r"#/users/1$"))
    expect(page.locator("main")).to_have_attribute("aria-busy", "false")
    expect(page.locator("svg.chart g[data-feeling] circle")).to_have_count(len(FEELINGS) * len(snapshots))
    watched.screenshot("user")

    page.get_by_role("link", name=f"Snapshot {snapshots[1]['snapshot_id']}", exact=True).click()
    check_snapshot(page, server, stored, 1, 1)
    watched.screenshot("snapshot")
    page.keyboard.press("ArrowRight")
    check_snapshot(page, server, stored, 1, 2)
    page.keyboard.press("ArrowLeft")
    check_snapshot(page, server, stored, 1, 1)
    page.get_by_role("button", name="← Previous").click()
    check_snapshot(page, server, stored, 1, 0)
    page.keyboard.press("ArrowLeft")  # the first snapshot: nothing before it
    page.go_back()  # the browser's back button: the snapshot shown before
    check_snapshot(page, server, stored, 1, 1)
    circle = page.locator('svg.chart g[data-feeling="hunger"] circle').nth(4)
    circle.scroll_into_view_if_needed()
    point, surface = circle.bounding_box(), page.locator("svg.chart rect.surface").bounding_box()
    assert point is not None and surface is not None
    where: Position = {
        "x": point["x"] + point["width"] / 2 - surface["x"],
        "y": point["y"] + point["height"] / 2 - surface["y"],
    }
    page.locator("svg.chart rect.surface").click(position=where)  # the chart opens the snapshot nearest the click
    check_snapshot(page, server, stored, 1, 4)
    page.go_back()
    check_snapshot(page, server, stored, 1, 1)
    assert watched.problems == []


def open_depth_map(page: Page, server: Server, stored: Stored, position: int) -> tuple[Locator, Locator, int]:
    """Open user 1's snapshot at `position` and wait for its depth map: the card, the picture, the snapshot id."""
    snapshot_id = stored.snapshots(1)[position]["snapshot_id"]
    page.goto(f"{server.url}#/users/1/snapshots/{snapshot_id}")
    depth = page.get_by_role("region", name="Depth map")
    image = depth.get_by_role("img", name=f"Depth map of snapshot {snapshot_id}")
    drawn(page, image)
    return depth, image, snapshot_id


def test_the_depth_map_says_the_value_under_the_pointer(watched: Watched, server: Server, stored: Stored) -> None:
    page = watched.page
    depth, image, _ = open_depth_map(page, server, stored, 3)
    image.scroll_into_view_if_needed()  # the mouse moves in the viewport's coordinates
    box = image.bounding_box()
    assert box is not None
    array = stored.depth(1, 3)
    for fx, fy in ((0.1, 0.1), (0.5, 0.5), (0.9, 0.8)):
        page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
        column, row = int(fx * array.shape[1]), int(fy * array.shape[0])
        readout = depth.locator(".value-readout")
        expect(readout).to_have_text(re.compile(rf"^\d+(\.\d+)? m at column {column}, row {row}$"))
        value = float(readout.inner_text().split()[0])
        assert value == pytest.approx(float(array[row, column]), rel=0.005)
    assert watched.problems == []


def test_the_depth_maps_colours_and_range_can_be_chosen(watched: Watched, server: Server, stored: Stored) -> None:
    page = watched.page
    depth, image, snapshot_id = open_depth_map(page, server, stored, 2)
    whole = api_json(server, "users/1/series/depth_image")["ranges"]["data"]
    own = api_json(server, f"users/1/snapshots/{snapshot_id}/depth_image")["payloads"]["data"]
    assert whole != {"minimum": own["minimum"], "maximum": own["maximum"]}  # else the choice would show nothing

    def rendered() -> dict[str, str]:
        src = image.get_attribute("src") or ""
        return dict(re.findall(r"[?&](\w+)=([^&]*)", src))

    assert float(rendered()["vmin"]) == whole["minimum"] and float(rendered()["vmax"]) == whole["maximum"]
    depth.get_by_label("Range").select_option("snapshot")
    image = depth.get_by_role("img", name=f"Depth map of snapshot {snapshot_id}")
    expect(image).to_have_attribute("src", re.compile(r"vmin="))
    assert float(rendered()["vmin"]) == own["minimum"] and float(rendered()["vmax"]) == own["maximum"]
    depth.get_by_label("Colours").select_option("gray")
    expect(depth.locator("img.colour-strip")).to_have_attribute("src", re.compile(r"/colormaps/gray$"))
    assert rendered()["colormap"] == "gray"
    pixels = drawn(page, depth.get_by_role("img", name=f"Depth map of snapshot {snapshot_id}"))
    assert pixels["colours"] > 3
    watched.screenshot("depth-gray-own-range")
    # The choice holds while stepping: the next snapshot is drawn the same way.
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("heading", level=2)).not_to_have_text(f"Snapshot {snapshot_id}")
    expect(page.get_by_role("region", name="Depth map").get_by_label("Colours")).to_have_value("gray")
    assert watched.problems == []


def test_a_picture_opens_full_size_zooms_pans_and_closes_with_escape(
    watched: Watched, server: Server, stored: Stored
) -> None:
    page = watched.page
    snapshot_id = stored.snapshots(1)[0]["snapshot_id"]
    page.goto(f"{server.url}#/users/1/snapshots/{snapshot_id}")
    card = page.get_by_role("img", name=f"Colour image of snapshot {snapshot_id}")
    drawn(page, card)
    card.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    full = dialog.locator("img.full")
    size = drawn(page, full)
    assert (size["width"], size["height"]) == IMAGE_SIZE  # the stored size, not a thumbnail
    dialog.get_by_role("button", name="+").click()
    expect(full).to_have_attribute("style", re.compile(r"scale\(1\.25\)"))
    box = full.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 50, box["y"] + 50)
    page.mouse.down()
    page.mouse.move(box["x"] + 90, box["y"] + 70, steps=4)
    page.mouse.up()
    expect(full).to_have_attribute("style", re.compile(r"translate\(40px, 20px\)"))
    watched.screenshot("full-size")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert page.url.endswith(f"#/users/1/snapshots/{snapshot_id}")  # Esc closed the picture, not the page
    assert watched.problems == []


def test_a_gallery_pages_small_pictures_and_opens_a_snapshot(watched: Watched, server: Server, stored: Stored) -> None:
    page = watched.page
    snapshots = stored.snapshots(1)
    page.goto(f"{server.url}#/users/1")
    page.get_by_role("link", name="Depth map", exact=True).click()
    expect(page).to_have_url(re.compile(r"#/users/1/gallery/depth_image/1$"))
    thumbnails = page.locator(".gallery img")
    expect(thumbnails).to_have_count(24)
    for index in (0, 23):
        size = drawn(page, thumbnails.nth(index))
        assert size["width"] < DEPTH_SHAPE[1] * 3 and size["colours"] > 3
    expect(page.get_by_label("Page, by time")).to_have_value("1")
    watched.screenshot("gallery")
    page.get_by_role("button", name="Later →").click()
    expect(page).to_have_url(re.compile(r"#/users/1/gallery/depth_image/2$"))
    expect(thumbnails).to_have_count(len(snapshots) - 24)
    expect(page.get_by_label("Page, by time")).to_have_value("2")
    pictures = [url for url in watched.requests if "as=png" in url]
    assert pictures and all("width=" in url for url in pictures)  # never the full image for a thumbnail
    assert all("vmin=" in url for url in pictures)  # one scale for the whole grid
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_url(re.compile(r"#/users/1/gallery/depth_image/1$"))
    page.get_by_role("link", name=re.compile(rf"^Depth map of snapshot {snapshots[5]['snapshot_id']}\b")).click()
    expect(page).to_have_url(re.compile(rf"#/users/1/snapshots/{snapshots[5]['snapshot_id']}$"))
    expect(page.locator("main")).to_have_attribute("aria-busy", "false")
    page.goto(f"{server.url}#/users/1/gallery/color_image/1")
    expect(page.get_by_role("heading", level=2)).to_have_text("Colour image · Alice Carmel")
    size = drawn(page, page.locator(".gallery img").first)
    assert size["width"] < IMAGE_SIZE[0] and size["colours"] > 10
    assert watched.problems == []


def test_a_user_of_ten_thousand_snapshots_is_drawn_in_a_handful_of_requests(
    watched: Watched, server: Server, stored: Stored
) -> None:
    page = watched.page
    page.goto(server.url)
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    watched.requests.clear()
    started = time.perf_counter()
    page.get_by_role("link", name="Many Snapshots").click()
    lines = page.locator('svg.chart g[data-feeling="hunger"] path')
    expect(lines).to_have_attribute("d", re.compile(r"^M"))
    expect(page.locator("ol.snapshots li")).to_have_count(50)
    usable = time.perf_counter() - started
    api_requests = [url for url in watched.requests if not url.startswith(server.url + "viewer/")]
    assert len(api_requests) <= 3, api_requests  # the user, and their feelings in one series
    (OUTPUT / "ten-thousand-snapshots.json").parent.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "ten-thousand-snapshots.json").write_text(
        json.dumps(
            {"snapshots": MANY_SNAPSHOTS, "seconds_until_usable": round(usable, 3), "requests": len(api_requests)}
        )
        + "\n"
    )
    watched.screenshot("ten-thousand-snapshots")
    # The hour's pause breaks the lines; the list pages on.
    assert (lines.get_attribute("d") or "").count("M") == 2
    expect(page.locator(".page-status")).to_have_text(f"1\u201350 of {MANY_SNAPSHOTS}")  # an en dash
    page.get_by_role("button", name="Later \u203a").click()
    expect(page.locator(".page-status")).to_have_text(f"51\u2013100 of {MANY_SNAPSHOTS}")
    expect(page.locator("ol.snapshots li").first).to_have_text(re.compile(r"^Snapshot 51 — "))
    # Dragging across the chart zooms into that span; All shows every snapshot again.
    span = page.locator(".chart text").last
    before = span.text_content()
    page.locator("svg.chart").scroll_into_view_if_needed()  # the list's button scrolled it away
    surface = page.locator("svg.chart rect.surface").bounding_box()
    assert surface is not None
    page.mouse.move(surface["x"] + surface["width"] * 0.1, surface["y"] + 20)
    page.mouse.down()
    page.mouse.move(surface["x"] + surface["width"] * 0.3, surface["y"] + 20, steps=5)
    page.mouse.up()
    expect(span).not_to_have_text(before or "")
    page.get_by_role("button", name="All").click()
    expect(span).to_have_text(before or "")
    assert watched.problems == []


def test_times_switch_between_local_time_and_utc(watched: Watched, server: Server, stored: Stored) -> None:
    page = watched.page
    first = stored.snapshots(2)[0]
    page.goto(f"{server.url}#/users/2/snapshots/{first['snapshot_id']}")
    expect(page.locator(".meta time")).to_have_text(shown_time(first["datetime"]))
    page.get_by_label("Times in").select_option("utc")
    expect(page.locator(".meta time")).to_have_text(shown_time(first["datetime"], "UTC"))
    expect(page.locator(".meta time")).to_have_attribute("title", shown_time(first["datetime"]))
    page.reload()  # the choice is kept
    expect(page.locator(".meta time")).to_have_text(shown_time(first["datetime"], "UTC"))
    page.get_by_label("Times in").select_option("local")
    assert watched.problems == []


def test_on_a_phone_the_text_keeps_its_size_and_a_swipe_steps(browser: Browser, server: Server, stored: Stored) -> None:
    for watched in watch(browser, viewport={"width": 400, "height": 800}, has_touch=True, is_mobile=True):
        page = watched.page
        snapshots = stored.snapshots(1)
        page.goto(f"{server.url}#/users/1/snapshots/{snapshots[1]['snapshot_id']}")
        expect(page.locator("main")).to_have_attribute("aria-busy", "false")
        axis = page.locator("svg.chart text.axis").first
        expect(axis).to_be_visible()
        height = axis.evaluate("text => text.getBoundingClientRect().height")
        assert height >= 11, f"the chart's text is {height} px high"
        expect(page.locator(".keys-hint")).to_be_hidden()
        expect(page.locator(".touch-hint")).to_be_visible()
        watched.screenshot("phone")
        page.evaluate(
            """() => {
                const main = document.querySelector('main');
                const at = (x) => [new Touch({identifier: 1, target: main, clientX: x, clientY: 300})];
                const touch = (type, touches, x) =>
                    new TouchEvent(type, {touches, changedTouches: at(x), bubbles: true});
                main.dispatchEvent(touch('touchstart', at(300), 300));
                main.dispatchEvent(touch('touchend', [], 120));
            }"""
        )
        expect(page).to_have_url(re.compile(rf"#/users/1/snapshots/{snapshots[2]['snapshot_id']}$"))
        assert watched.problems == []


def test_the_interactive_api_docs_load_without_a_cdn(watched: Watched, server: Server) -> None:
    page = watched.page
    page.goto(server.url)
    page.get_by_role("link", name="API").click()
    expect(page.locator(".opblock").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/users/{user_id}/series/{result_name}")).to_be_visible()
    off_server = [url for url in watched.requests if not url.startswith(server.url) and not url.startswith("data:")]
    assert off_server == []
    watched.screenshot("api-docs")
    assert watched.problems == []


def test_the_apis_errors_are_shown(watched: Watched, server: Server) -> None:
    page = watched.page
    page.goto(f"{server.url}#/users/1/snapshots/999")
    expect(page.get_by_role("alert")).to_contain_text("404: user 1 has no snapshot 999")
    page.goto(f"{server.url}#/users/999")
    expect(page.get_by_role("alert")).to_contain_text("404: no user 999")
    expect(page.get_by_role("link", name="Back to the users")).to_be_visible()
    # The browser logs each 404 it was answered; nothing else went wrong.
    unexpected = [
        problem
        for problem in watched.problems
        if not re.search(r"status of 404|^HTTP 404: GET .*/users/(1/snapshots/999|999)(/series/feelings.*)?$", problem)
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
