"""The report page as people read it: rendered in headless Chromium, every image loads and the
page logs no console errors.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install chromium
chromium-driver``; ``.ci/run`` installs them when missing) and the ``selenium`` package (the
``dev`` extra). Without a browser the tests are skipped with that message, except where
``GANLAB_REQUIRE_BROWSER=1`` (set by ``.ci/run``): there a missing browser fails them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ganlab.report import Report

INSTALL = "apt-get install chromium chromium-driver (Debian) and pip install selenium"

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers with a small /dev/shm
    "--window-size=1200,900",
)
"""Headless, offline Chromium: the background-networking flags keep it from trying to reach
Google's hosts on a closed network."""

IMAGE_STATES = """
return Array.from(document.images).map(function (image) {
  return {alt: image.alt, complete: image.complete, width: image.naturalWidth,
          height: image.naturalHeight};
});
"""


def _missing_browser() -> str | None:
    """Why no browser can run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return f"the selenium package is not installed ({INSTALL})"
    for program in ("chromium", "chromedriver"):
        if shutil.which(program) is None:
            return f"no `{program}` on PATH ({INSTALL})"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium session through chromedriver, console logging on."""
    reason = _missing_browser()
    if reason is not None:
        if os.environ.get("GANLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"the browser test cannot run: {reason}")
        pytest.skip(f"the browser test needs headless Chromium: {reason}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(shutil.which("chromium"))
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def page_problems(driver: Any, page: Path) -> tuple[list[dict[str, Any]], list[str], int]:
    """Open ``page``; return (images that did not load, console errors, image count)."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(page.resolve().as_uri())
    images = driver.execute_script(IMAGE_STATES)
    broken = [i for i in images if not i["complete"] or i["width"] == 0 or i["height"] == 0]
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return broken, errors, len(images)


def test_report_page_loads_every_image_without_console_errors(browser: Any, report: Report) -> None:
    broken, errors, count = page_problems(browser, report.html_path)
    assert not broken, f"images that did not load: {broken}"
    assert not errors, f"console errors: {errors}"
    assert count == len(report.figures) + 1  # every plot and the validation panel
    titles = browser.execute_script(
        "return Array.from(document.querySelectorAll('h2')).map(h => h.textContent)"
    )
    assert "Validation panels" in titles and "Validation: SR against bicubic" in titles


def test_page_check_catches_a_broken_image_and_a_script_error(browser: Any, tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><body><img alt=broken src='data:image/png;base64,AAAA'>"
        "<script>undefinedFunction();</script></body></html>",
        encoding="utf-8",
    )
    broken, errors, count = page_problems(browser, page)
    assert count == 1 and [image["alt"] for image in broken] == ["broken"]
    assert any("undefinedFunction" in error for error in errors)
