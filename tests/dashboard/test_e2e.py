"""Real-browser end-to-end tests: ``kb serve`` in a subprocess, system Chromium via Playwright.

search → open a record → add it to a reading list → export RIS (parsed with rispy); and a
click on an evidence-map cell opens the browser filtered to it. Screenshots are saved under
``test-artifacts/e2e/``. Without Chromium these tests fail (they are not skipped): install it
with ``apt-get install -y chromium`` (CI does, in ``.ci/run``) or point ``KB_CHROMIUM`` at one.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import rispy

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = os.environ.get("KB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-default-apps", "--metrics-recording-only"]
TIMEOUT_MS = 60_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which(CHROMIUM) or CHROMIUM
    if not Path(path).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: the browser tests need it. Install it "
                    "(apt-get install -y chromium) or set KB_CHROMIUM to its path.")
    return path


@pytest.fixture(scope="module")
def server(sqlite_dashboard_db: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[str]:
    """``kb serve`` on a free port against a private copy of the fixture database."""
    db = tmp_path_factory.mktemp("e2e") / "kb.sqlite"
    shutil.copyfile(sqlite_dashboard_db["path"], db)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    log = (tmp_path_factory.getbasetemp() / "kb-serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kb", "--database-url", f"sqlite:///{db}", "serve",
         "--port", str(port), "--address", "127.0.0.1"],
        cwd=tmp_path_factory.getbasetemp(), env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"kb serve did not start (exit {proc.poll()}); see {log.name}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def page(chromium: str, server: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                      accept_downloads=True)
        pg = context.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        try:
            yield pg
        finally:
            context.close()
            browser.close()


def _settled(page: Any) -> None:
    """Wait until Streamlit has finished the current run."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=TIMEOUT_MS)
    page.wait_for_timeout(500)


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_search_open_add_export_ris(page: Any, server: str) -> None:
    page.goto(server + "/")
    page.get_by_role("heading", name="Evidence browser").wait_for()
    _settled(page)
    _shot(page, "01-browser")

    box = page.get_by_role("textbox", name="Search titles and abstracts")
    box.fill('esketamine "relapse prevention"')
    box.press("Enter")
    page.get_by_role("radio", name="Relevance").click()
    _settled(page)
    # the last match is the result card (the summary strip above may list it too)
    title = page.get_by_role("button", name=re.compile(
        r"Efficacy of Esketamine Nasal Spray.*Relapse Prevention", re.I)).last
    title.wait_for()
    _shot(page, "02-search-results")

    title.click()
    heading = page.get_by_role("heading", name=re.compile(r"Esketamine Nasal Spray .* Relapse"))
    heading.wait_for()
    _settled(page)
    assert "/record" in page.url and "id=" in page.url
    assert page.get_by_text("Importance", exact=False).first.is_visible()
    _shot(page, "03-record")

    page.get_by_role("button", name="Add to list").click()
    page.get_by_text(re.compile("Added to")).first.wait_for()
    _shot(page, "04-added-to-list")

    page.get_by_role("link", name="Reading lists").click()
    page.get_by_role("heading", name="Reading lists").wait_for()
    page.get_by_role("heading", name="Export").wait_for()
    _settled(page)
    _shot(page, "05-reading-list")
    with page.expect_download() as info:
        page.get_by_role("button", name="RIS").click()
    target = ARTIFACTS / "reading-list.ris"
    info.value.save_as(str(target))
    entries = rispy.loads(target.read_text(encoding="utf-8"))
    assert [e.get("accession_number") for e in entries] == ["31166571"]
    assert "Relapse Prevention" in entries[0]["title"]
    assert entries[0]["doi"] == "10.1001/jamapsychiatry.2019.1189"


def test_xss_title_is_text_in_the_browser(page: Any, server: str) -> None:
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    # the filters come from the URL (every record, whatever its tags), the text is typed
    page.goto(server + "/?include_incidental=1")
    box = page.get_by_role("textbox", name="Search titles and abstracts")
    box.wait_for()
    _settled(page)
    box.fill("onerror")
    box.press("Enter")
    _settled(page)
    button = page.get_by_role("button", name=re.compile("onerror=alert"))
    button.wait_for()
    assert "<img src=x onerror=alert(1)>" in button.inner_text()
    button.click()
    page.get_by_role("heading", name=re.compile("onerror=alert")).wait_for()
    _settled(page)
    _shot(page, "06-xss-record")
    assert page.locator("img[src='x']").count() == 0
    assert "<script>alert(3)" not in page.content()  # shown escaped, never as markup
    assert alerts == []


def test_evidence_map_cell_opens_filtered_browser(page: Any, server: str) -> None:
    page.goto(server + "/")
    page.get_by_role("heading", name="Evidence browser").wait_for()
    page.get_by_role("link", name="Evidence map").click()
    page.get_by_role("heading", name="Evidence map").wait_for()
    cell = page.locator('[data-testid="stVegaLiteChart"] path[aria-label^="TRD × Safety"]')
    cell.first.wait_for()
    _settled(page)
    _shot(page, "07-evidence-map")
    label = cell.first.get_attribute("aria-label") or ""
    expected = re.search(r": (\d+) records", label)
    # click the cell's RCT bubble, as a person would (the bubble sits on the cell)
    page.locator('[data-testid="stVegaLiteChart"] '
                 'path[aria-label^="TRD × Safety / tolerability, rcts"]').first.click()
    page.get_by_role("heading", name="Evidence browser").wait_for()
    page.wait_for_url(re.compile(r"condition=trd"))
    _settled(page)
    _shot(page, "08-browser-from-map")
    assert "outcome=safety_tolerability" in page.url
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Matching records")
    shown = int(re.sub(r"\D", "", metric.locator('[data-testid="stMetricValue"]').inner_text()))
    assert expected and shown == int(expected.group(1))
