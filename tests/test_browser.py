"""The Dagster UI in a real headless Chromium: `dagster dev` serves the code location on 127.0.0.1
against the sandbox, and Playwright drives Debian's chromium through what a user sees: the asset
graph, the automation page, a run launched with "Materialize all", the checks on each asset, a
picture on an asset's page, and the sensor turned on, whose run (launched by dagster dev's daemon)
loads backtests that finished.

Chromium comes from Debian (`apt-get install -y chromium`; `make test` and `.ci/run` install it).
Screenshots go to $QCW_SCREENSHOT_DIR (default build/screenshots; `make screenshot` writes docs/).
"""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from assets.names import GROUP
from pipelines.definitions import defs
from pipelines.plots import picture_path
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxAccount, SandboxServer
from pipelines.schema import TABLES as SCHEMA_TABLES
from pipelines.warehouse import view_names
from tests.helpers import REPO_ROOT, TABLES, TEST_SIZE, expected_orders, headless_sync

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

CHROMIUM = Path(os.environ.get("QCW_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("QCW_SCREENSHOT_DIR", REPO_ROOT / "build" / "screenshots"))
LOCATION = "quantconnect_warehouse"  # workspace.yaml
SENSOR = "new_finished_backtests"
WRITEBACK_JOBS = {
    "apply_backtest_tags": "tag_backtests",
    "update_projects": "update_project_fields",
    "prune_archived": "prune_upstream",
}
# Chromium on a closed network: no background connections to Google's hosts (they would be
# refused, many at a time), no first-run UI.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Wide enough that the graph draws full asset nodes (status, checks, kinds), not name boxes,
# and tall enough to hold every node (the graph draws only what is in view).
GRAPH_VIEWPORT = {"width": 2200, "height": 1500}
SERVER_START_SECONDS = 120
RUN_SECONDS = 180
# The UI loads its data after the page: give every expectation the time a busy 2-core box needs.
expect.set_options(timeout=30_000)

GRAPH = defs.resolve_asset_graph()
ASSETS = sorted(key.to_user_string() for key in GRAPH.get_all_asset_keys())
SCHEMA = {table.name: table for table in SCHEMA_TABLES}
KINDS = {key.to_user_string(): GRAPH.get(key).kinds for key in GRAPH.get_all_asset_keys()}
# How the graph's kind tags spell the kinds (`kinds={"duckdb"}` shows DuckDB's logo and name).
KIND_LABELS = {"duckdb": "DuckDB", "quantconnect": "quantconnect"}
CHECKS = {
    asset: sorted(c.name for c in GRAPH.asset_check_keys if c.asset_key.to_user_string() == asset)
    for asset in ASSETS
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(server: subprocess.Popen, url: str, log: Path) -> None:
    """Wait for the webserver to answer, failing with its log when it exits or never answers."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dagster dev exited with {server.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(
        f"dagster dev did not answer in {SERVER_START_SECONDS} s:\n{log.read_text()[-4000:]}"
    )


def stop(server: subprocess.Popen) -> None:
    """Stop dagster dev and everything it started (webserver, daemon, code server)."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """One sandbox for the module: starting the UI is the slow part, so the tests share it."""
    with SandboxServer(SandboxAccount(TEST_SIZE, seed=11)) as server:
        yield server


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("warehouse") / "ui.duckdb"


@pytest.fixture(scope="module")
def dagster_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh Dagster instance, configured as the project's own; `dagster dev` logs here."""
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return home


def dagster_log(home: Path) -> Path:
    return home / "dagster-dev.log"


@pytest.fixture(scope="module")
def dagster_ui(sandbox: SandboxServer, warehouse: Path, dagster_home: Path) -> Iterator[str]:
    """`dagster dev` on a free loopback port, with a fresh instance and the sandbox's
    credentials in its environment, as a user runs it; its URL."""
    home = dagster_home
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "QC_API_URL": sandbox.url,
        "QC_USER_ID": SANDBOX_USER_ID,
        "QC_API_TOKEN": SANDBOX_API_TOKEN,
        "QC_MAX_CONCURRENCY": "4",
        "QC_MAX_REQUESTS_PER_SECOND": "0",
        "WAREHOUSE_PATH": str(warehouse),
    }
    port = free_port()
    dagster = Path(sys.executable).with_name("dagster")
    log = dagster_log(home)
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(dagster), "dev", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(server, url, log)
        yield url
    finally:
        stop(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"No Chromium at {CHROMIUM}: install Debian's with `apt-get install -y chromium` "
            "(make test does), or point QCW_CHROMIUM at one."
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page that dismisses Dagster's community pop-up whenever it shows, and leaves a
    screenshot behind when its test fails."""
    page = browser.new_page(viewport=GRAPH_VIEWPORT)
    page.set_default_timeout(30_000)
    page.add_locator_handler(
        page.get_by_role("button", name="Skip"), lambda skip: skip.click(), no_wait_after=True
    )
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        save_screenshot(page, f"{request.node.name}-failure.png")
    page.close()


def save_screenshot(page: Page, name: str, clip_to: Locator | None = None) -> Path:
    """Save the page (with `clip_to`, only the page's top down to those elements' bottom)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    clip = None
    if clip_to is not None:
        bottom = max(box["y"] + box["height"] for box in map(Locator.bounding_box, clip_to.all()))
        clip = {"x": 0, "y": 0, "width": GRAPH_VIEWPORT["width"], "height": bottom + 40}
    page.screenshot(path=path, clip=clip)
    return path


def loaded_orders(warehouse: Path) -> dict[str, int]:
    """Order rows in the warehouse per backtest that has any."""
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        query = "SELECT backtest_id, count(*) FROM orders GROUP BY 1"
        return dict(conn.execute(query).fetchall())


def png_size(path: Path) -> tuple[int, int]:
    """A PNG file's width and height in pixels, from its header."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR", path
    return struct.unpack(">II", header[16:24])


def shown_picture_size(page: Page, entry: str) -> tuple[int, int]:
    """The size of the picture the asset page's markdown metadata `entry` draws, once loaded:
    the UI shows markdown this long in a dialog, behind "[Show Markdown]"."""
    row = page.locator("tr").filter(has=page.get_by_text(entry, exact=True))
    row.get_by_text("[Show Markdown]").click()
    picture = page.get_by_role("dialog").locator('img[src^="data:image/png"]')
    expect(picture).to_be_visible()
    loaded = "img => img.complete && img.naturalWidth > 0"  # decoded: a broken image has 0
    page.wait_for_function(loaded, arg=picture.element_handle())
    size = picture.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    return tuple(size)


def graph_node(page: Page, asset: str) -> Locator:
    """The asset graph's node of `asset`: the one whose name reads `asset`, exactly (a long
    name is cut in the middle, "optimization_backte…_statistics": its tooltip holds it)."""
    name = page.get_by_text(asset, exact=True).or_(page.locator(f'[data-tooltip="{asset}"]'))
    return page.locator("svg foreignObject").filter(has=name)


def open_asset_graph(page: Page, url: str) -> None:
    page.goto(f"{url}/locations/{LOCATION}/asset-groups/{GROUP}")
    for asset in ASSETS:
        expect(graph_node(page, asset).first).to_be_visible()


def test_the_asset_graph_shows_every_asset_and_automation_lists_the_schedule_and_sensor(
    dagster_ui: str, page: Page
):
    open_asset_graph(page, dagster_ui)
    for asset in ASSETS:
        expect(graph_node(page, asset)).to_have_count(1)
    for kind, label in KIND_LABELS.items():
        tags = page.locator("svg foreignObject").get_by_text(label, exact=True)
        expect(tags).to_have_count(sum(kind in kinds for kinds in KINDS.values()))

    page.goto(f"{dagster_ui}/automation")
    for kind, name in (("schedules", "daily_sync"), ("sensors", "new_finished_backtests")):
        link = page.locator(f'a[href="/locations/{LOCATION}/{kind}/{name}"]')
        expect(link).to_be_visible()
        row = page.locator("[data-index]").filter(has=link)
        toggle = row.locator("input[type=checkbox]").last
        expect(toggle).not_to_be_checked()  # both start stopped

    for job, op in WRITEBACK_JOBS.items():  # each a launchpad, its op waiting for run config
        page.goto(f"{dagster_ui}/locations/{LOCATION}/jobs/{job}/playground")
        expect(page.get_by_role("button", name=op, exact=True)).to_be_visible()
        expect(page.get_by_role("button", name=re.compile("Launch run", re.I))).to_be_visible()


def test_materialize_all_from_the_ui_loads_the_warehouse_and_every_check_passes(
    dagster_ui: str, page: Page, sandbox: SandboxServer, warehouse: Path
):
    open_asset_graph(page, dagster_ui)
    page.get_by_role("button", name="Materialize all").click()
    launched = page.get_by_text(re.compile(r"Launched run \w+"))
    expect(launched).to_be_visible()
    page.get_by_role("link", name="View").or_(page.get_by_role("button", name="View")).first.click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]+"))
    outcome = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first
    expect(outcome).to_be_visible(timeout=RUN_SECONDS * 1000)
    assert outcome.inner_text() == "Success"

    assert loaded_orders(warehouse) == {b: n for b, n in expected_orders(sandbox).items() if n}
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        rows = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}

    open_asset_graph(page, dagster_ui)
    for asset in ASSETS:
        node = graph_node(page, asset).first
        expect(node).to_contain_text("Materialized")
        if CHECKS[asset]:
            expect(node).to_contain_text(f"{len(CHECKS[asset])} / {len(CHECKS[asset])} Passed")
    save_screenshot(page, "asset-graph.png", clip_to=page.locator("svg foreignObject"))

    for table in TABLES:
        page.goto(f"{dagster_ui}/assets/{table}")
        row_count = page.get_by_text("Row count", exact=True).locator("..")
        expect(row_count).to_have_text(re.compile(rf"^Row count\s*{rows[table]:,}$"))
        expect(page.get_by_text("preview", exact=True)).to_be_visible()
        first_column = SCHEMA[table].columns[0].name  # the schema shows its columns
        expect(page.get_by_text(first_column, exact=True).first).to_be_visible()
    # The equity curves, drawn on the asset's page as the PNG file beside the warehouse. (The
    # optimizations asset's heatmap needs a completed optimization over two parameters, which
    # this account has not: tests/test_plots.py draws it.)
    page.goto(f"{dagster_ui}/assets/closed_trades")
    assert shown_picture_size(page, "equity_curves") == png_size(picture_path(warehouse, "equity"))
    page.goto(f"{dagster_ui}/assets/analysis_views")
    for view in view_names():
        expect(page.get_by_text(f"{view}_rows", exact=True)).to_be_visible()
        expect(page.get_by_text(f"{view}_columns", exact=True)).to_be_visible()
    expect(page.get_by_text("**backtest_summary**")).to_have_count(0)  # markdown, rendered
    expect(page.get_by_text("preview", exact=True)).to_be_visible()
    for asset, checks in CHECKS.items():
        page.goto(f"{dagster_ui}/assets/{asset}?view=checks")
        for check in checks:
            expect(page.get_by_text(check, exact=True).first).to_be_visible()
        expect(page.get_by_text("Succeeded")).to_have_count(len(checks))


def sensor_switch(page: Page, url: str) -> tuple[Locator, Locator]:
    """The sensor's on/off switch on its own page, and the label to click."""
    page.goto(f"{url}/locations/{LOCATION}/sensors/{SENSOR}")
    switch = page.locator("label").filter(has=page.locator("input[type=checkbox]"))
    expect(switch).to_have_count(1)
    return switch.locator("input"), switch


def wait_for_sensor_run(home: Path) -> dg.DagsterRun:
    """The first run the sensor requested, once it has ended (fails after RUN_SECONDS)."""
    deadline = time.monotonic() + RUN_SECONDS
    with dg.DagsterInstance.from_config(str(home)) as instance:
        requested = dg.RunsFilter(tags={"dagster/sensor_name": SENSOR})
        while time.monotonic() < deadline:
            ended = [run for run in instance.get_runs(filters=requested) if run.is_finished]
            if ended:
                return ended[-1]
            time.sleep(1)
    log = dagster_log(home).read_text(errors="replace")[-4000:]
    pytest.fail(f"no run from {SENSOR} ended within {RUN_SECONDS} s:\n{log}")


def test_the_sensor_turned_on_in_the_ui_syncs_backtests_that_finish_upstream(
    dagster_ui: str,
    dagster_home: Path,
    page: Page,
    sandbox: SandboxServer,
    warehouse: Path,
    tmp_path: Path,
):
    synced = headless_sync(sandbox, warehouse, tmp_path, SANDBOX_API_TOKEN)  # all loaded, then
    assert synced.returncode == 0, synced.stderr[-3000:]
    finished = sandbox.account.complete_running()  # upstream, running backtests finish
    assert finished
    toggle, switch = sensor_switch(page, dagster_ui)
    switch.click()
    expect(toggle).to_be_checked()
    try:
        # The daemon ticks the sensor at once, and the run it requests is queued and launched.
        run = wait_for_sensor_run(dagster_home)
    finally:
        toggle, switch = sensor_switch(page, dagster_ui)
        switch.click()
        expect(toggle).not_to_be_checked()
    assert run.status == dg.DagsterRunStatus.SUCCESS, dagster_log(dagster_home).read_text()[-4000:]
    assert run.tags["new_backtests"] == str(len(finished))  # it asked for exactly those
    page.goto(f"{dagster_ui}/runs/{run.run_id}")
    expect(page.get_by_text(SENSOR).first).to_be_visible()  # launched by the sensor
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    loaded, expected = loaded_orders(warehouse), expected_orders(sandbox)
    assert {b: loaded.get(b, 0) for b in finished} == {b: expected[b] for b in finished}
