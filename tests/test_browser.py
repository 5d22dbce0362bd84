"""The playground in a real headless Chromium (Debian's), driven by Playwright."""

import re

from playwright.sync_api import expect

from tests.conftest import ARTIFACTS


def choose_preset(page, name: str) -> None:
    page.get_by_label("Preset").click()
    page.get_by_role("option", name=name).click()


def completions(page):
    return page.locator(".completion textarea")


def test_sentiment_preset_runs_three_columns(page, app_url):
    page.goto(app_url)
    choose_preset(page, "English → French")
    expect(page.locator("#query textarea, #query input").first).to_have_value("cheese")
    choose_preset(page, "Tweet sentiment")
    expect(page.locator("#query textarea, #query input").first).to_have_value("This new music video was incredible")
    expect(page.locator("#token-info")).to_contain_text(re.compile(r"\d+ tokens · \d+% of the 2,048-token context"))

    page.click("#run")
    boxes = completions(page)
    for i in range(3):
        expect(boxes.nth(i)).not_to_have_value("", timeout=60_000)
    for i in range(3):
        expect(page.locator(".status").nth(i)).to_contain_text(re.compile(r"✓ .* tokens? · [\d.]+ s"), timeout=60_000)
    page.screenshot(path=ARTIFACTS / "playground.png", full_page=True)
    for i in range(3):
        assert "###" not in boxes.nth(i).input_value()
