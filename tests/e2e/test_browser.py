"""End to end in a real browser: ``streamlit run app.py`` with a temporary MLTRAINER_HOME, driven by
Playwright in Debian's Chromium. Trains a model, views its predictions, saves screenshots to
``test-artifacts/``. Every wait is bounded and waits on page state, never on a sleep."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT_S = 60
TRAIN_TIMEOUT_MS = 180_000
UI_TIMEOUT_MS = 60_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                       reason="needs Debian's chromium (/usr/bin/chromium); CI installs it via .ci/run"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """The dashboard on a free port with an empty MLTRAINER_HOME; yields its base URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRAINER_", "POLYGON_", "FRED_"))}
    env["MLTRAINER_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    ready = threading.Event()
    output: list[str] = []

    def watch() -> None:
        for line in proc.stdout:
            output.append(line)
            if f":{port}" in line:
                ready.set()
        ready.set()  # the process ended

    threading.Thread(target=watch, daemon=True).start()
    try:
        if not ready.wait(START_TIMEOUT_S) or proc.poll() is not None:
            pytest.fail("streamlit did not start:\n" + "".join(output))
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
    assert not any("Traceback" in line for line in output), "".join(output)


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield page
        browser.close()


def _screenshot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main block, so grow the viewport to fit it first."""
    size = page.viewport_size
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
        " return Math.max(m ? m.scrollHeight : 0, document.body.scrollHeight); }"
    )
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 12000)})
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    page.set_viewport_size(size)


def test_train_then_view_predictions_in_the_browser(server, browser_page):
    from playwright.sync_api import expect

    page = browser_page
    sidebar = page.get_by_test_id("stSidebar")
    # A deep link as the server's first request still goes through app.py's router (sidebar, nav).
    page.goto(f"{server}/data")
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(sidebar.get_by_text("Offline data · stocks to 2013-03-01 · indices to 2018-12-31")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_test_id("stSidebarNav").get_by_text("Compliance")).to_be_visible()
    _screenshot(page, "00_data_deep_link.png")

    page.goto(server)
    expect(sidebar.get_by_text("Offline data · stocks to 2013-03-01 · indices to 2018-12-31")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_text("No trained models yet")).to_be_visible(timeout=UI_TIMEOUT_MS)
    _screenshot(page, "01_overview_empty.png")

    # Train: the default model type (momentum breakout) on offline AAPL, three folds.
    page.goto(f"{server}/train")
    folds = page.get_by_role("spinbutton", name="Walk-forward folds")
    expect(folds).to_be_visible(timeout=UI_TIMEOUT_MS)
    folds.fill("3")
    folds.press("Tab")
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text("Trained and registered")).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
    expect(page.get_by_text("Every figure below is out of sample")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_text("Causal: predictions on bars truncated")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.locator(".js-plotly-plot").nth(2)).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_test_id("stMetric").first).to_contain_text("Total return")
    message = page.get_by_text("Trained and registered").inner_text()
    match = re.search(r"registered (momentum_breakout_AAPL_\d{8}) in", message)
    assert match, message
    model_id = match.group(1)
    _screenshot(page, "02_train_results.png")

    # Predictions for the new model on its own symbol.
    page.goto(f"{server}/predictions")
    expect(page.get_by_text("Live signals")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_text("signals up to that line are in-sample")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_role("button", name="Download CSV")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_text(model_id).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    _screenshot(page, "03_predictions.png")

    # The registry lists it with a verified signature.
    page.goto(f"{server}/models")
    expect(page.get_by_test_id("stMetric").first).to_contain_text("verified", timeout=UI_TIMEOUT_MS)
    _screenshot(page, "04_models.png")
    expect(page.get_by_test_id("stException")).to_have_count(0)
