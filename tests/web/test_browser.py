"""End to end in real headless Chromium (Debian's), driven by Playwright.

Open the catalog, search, open a preset, sign in with a token, upload a preset
through the form (the page's script shows progress), and see it listed.
Screenshots of the catalog and the preset page are saved as artifacts
(`REGISTRY_ARTIFACTS`, default `artifacts/` at the top of the repository).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.web.live import LiveServer

CHROMIUM = os.environ.get("REGISTRY_CHROMIUM") or shutil.which("chromium")
ARTIFACTS = Path(os.environ.get("REGISTRY_ARTIFACTS", REPO / "artifacts"))


@pytest.fixture()
def page(live: LiveServer) -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test, but Debian's chromium is not installed")
        pytest.skip("Debian's chromium is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        yield context.new_page()
        context.close()
        browser.close()


def test_browse_search_sign_in_upload(page, live: LiveServer, keras_hub_preset: Path) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.goto(live.url + "/")
    assert page.title() == "Preset catalog"
    page.screenshot(path=str(ARTIFACTS / "catalog.png"), full_page=True)

    page.fill("#q", "tiny demo")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/?q=tiny+demo*")
    assert page.locator(".card").count() == 1
    page.click("text=gpt2_tiny_demo")
    page.wait_for_url("**/presets/keras/gpt2_tiny_demo")
    assert page.locator("h2#card-h").inner_text() == "Model card"
    assert page.locator("table.files tbody tr").count() == 7  # 4 files, and the tokenizer's 3
    page.screenshot(path=str(ARTIFACTS / "preset.png"), full_page=True)

    page.click("text=Upload")
    page.click("text=Sign in with a token")
    page.fill("#token", live.token("alice"))
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/upload")
    page.fill("#name", "browser_tiny")
    page.fill("#description", "Uploaded from Chromium")
    page.fill("#tags", "gpt2, browser")
    page.set_input_files("#folder", str(keras_hub_preset))  # the whole folder, assets too
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/presets/alice/browser_tiny", timeout=60_000)
    assert "Uploaded from Chromium" in page.content()
    assert "28.3K parameters" in page.inner_text(".badges")
    files = page.locator("table.files tbody tr td:first-child").all_inner_texts()
    assert "assets/tokenizer/vocabulary.json" in files and "config.json" in files

    page.goto(live.url + "/?tag=browser")
    assert page.locator(".card .name").inner_text() == "alice/browser_tiny"
    page.screenshot(path=str(ARTIFACTS / "catalog-after-upload.png"), full_page=True)


def test_the_catalog_fits_a_phone(page, live: LiveServer) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 375, "height": 800})
    for path in ("/", "/presets/keras/gpt2_tiny_demo"):
        page.goto(live.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, f"{path} scrolls sideways on a phone"
    page.screenshot(path=str(ARTIFACTS / "preset-phone.png"), full_page=True)


def test_try_it_streams_tokens_into_the_page(page, live: LiveServer) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.goto(live.url + "/presets/keras/gpt2_tiny_demo")
    page.fill("#try-prompt", "the cat sat on")
    page.fill("input[name=max_new_tokens]", "40")
    # Count what the page's output holds each time it changes: several steps
    # mean the text arrived token by token, not as one answer.
    page.evaluate("""() => {
        window.seen = [];
        new MutationObserver(() => window.seen.push(
            document.getElementById("try-text").textContent.length
        )).observe(document.getElementById("try-text"), {childList: true, characterData: true,
                                                        subtree: true});
    }""")
    page.click("#try-run")
    assert page.locator("#try-stop").is_visible()
    # A locator, not wait_for_function: the page's CSP refuses the eval that polls with.
    sync_api = pytest.importorskip("playwright.sync_api")
    done = re.compile(r"tokens? in [0-9.]+ s")
    sync_api.expect(page.locator("#try-status")).to_contain_text(done, timeout=240_000)
    status = page.inner_text("#try-status")
    assert "40 tokens in" in status or "(end)" in status, status
    lengths = page.evaluate("window.seen")
    assert len(set(lengths)) > 3, lengths  # the text grew in steps
    assert page.inner_text("#try-text").strip()
    assert not page.locator("#try-stop").is_visible()
    page.screenshot(path=str(ARTIFACTS / "try-it.png"), full_page=True)
    page.locator("section.try-it").screenshot(path=str(ARTIFACTS / "try-it-box.png"))
