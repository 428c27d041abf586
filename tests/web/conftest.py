"""Browser-test fixtures: a live `nodegraph serve` over the tiny models, and Playwright pages
driving Debian's chromium (Playwright's own browser download is not used).

Without /usr/bin/chromium (or $NODEGRAPH_CHROMIUM) or the playwright package the tests are
skipped, except under CI (the CI environment variable set), where that is a failure: CI must
run them. Screenshots go to tests/web/screenshots/ (ignored by git), or $NODEGRAPH_SCREENSHOTS.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from tests.live_server import nodegraph_serve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("NODEGRAPH_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = REPO / "tests" / "web" / "screenshots"
VIEWPORT = {"width": 1400, "height": 900}

BENIGN_CONSOLE = (
    re.compile(r"favicon\.ico"),
    # the page being closed while its websocket (re)connects
    re.compile(r"WebSocket connection to .* failed"),
)
"""Console errors that say nothing about the editor."""


def unavailable(reason: str) -> NoReturn:
    """Skip the browser tests locally; fail them under CI, which must run them."""
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def live_server(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `python -m nodegraph serve` on a free port (tiny models, latent previews, tmp
    output/input/data folders; input holds workflows/input/*); yields its base URL."""
    root = tmp_path_factory.mktemp("live_server")
    folders = {name: root / name for name in ("output", "input", "data")}
    for folder in folders.values():
        folder.mkdir()
    for picture in (REPO / "workflows" / "input").iterdir():
        shutil.copy(picture, folders["input"] / picture.name)
    args = ["--models-dir", str(tiny_models), "--previews", "latent"]
    for name, folder in folders.items():
        args += [f"--{name}-dir", str(folder)]
    with nodegraph_serve(args, root / "server.log") as served:
        yield served.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium driven by Playwright (one per test module)."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


class ConsoleLog:
    """Console errors and uncaught exceptions of a page; tests allow the ones they provoke."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = list(BENIGN_CONSOLE)

    def allow(self, pattern: str) -> None:
        """Tolerate errors matching pattern (e.g. the 400 of a prompt made invalid on purpose)."""
        self.allowed.append(re.compile(pattern))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location.get("url", "") if message.location else ""
            self.errors.append(f"console.error: {message.text} ({location})")

    def on_page_error(self, error: Any) -> None:
        self.errors.append(f"uncaught: {error}")

    def unexpected(self) -> list[str]:
        """The errors no pattern allows."""
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def console() -> ConsoleLog:
    """The console of this test's page (see `page`)."""
    return ConsoleLog()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test item, so `page` knows whether the test failed."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def page(browser: Browser, console: ConsoleLog, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page (own context: empty localStorage) at 1400x900; at teardown the console
    must hold no errors beyond the benign and allowed ones. A failed test leaves a
    <test name>-FAILED.png screenshot."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    fresh = context.new_page()
    fresh.on("console", console.on_console)
    fresh.on("pageerror", console.on_page_error)
    fresh.set_default_timeout(15_000)
    yield fresh
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        fresh.screenshot(path=str(screenshot_dir() / f"{safe_name(request.node.name)}-FAILED.png"))
    fresh.remove_listener("console", console.on_console)
    fresh.remove_listener("pageerror", console.on_page_error)
    context.close()
    unexpected = console.unexpected()
    assert not unexpected, "errors in the browser console:\n" + "\n".join(unexpected)


def screenshot_dir() -> Path:
    """$NODEGRAPH_SCREENSHOTS, else tests/web/screenshots/ (made ignored by git)."""
    configured = os.environ.get("NODEGRAPH_SCREENSHOTS")
    folder = Path(configured) if configured else SCREENSHOTS
    folder.mkdir(parents=True, exist_ok=True)
    if not configured:
        ignore = folder / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")
    return folder


def safe_name(test_name: str) -> str:
    """A test name usable as a file name (parametrized ids included)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)


@pytest.fixture
def screenshot(page: Page, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """`screenshot("step")` saves the page as <test name>-step.png and returns the path."""
    base = safe_name(request.node.name)

    def take(step: str) -> Path:
        path = screenshot_dir() / f"{base}-{step}.png"
        page.screenshot(path=str(path))
        return path

    return take
