"""The playground in a real headless Chromium (Debian's), driven by Playwright."""

import re

from playwright.sync_api import expect

from tests.conftest import ARTIFACTS

FINISHED = re.compile(r"✓ (end sequence|max tokens|end of text) · \d+ tokens? · [\d.]+ s")


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
        expect(page.locator(".status").nth(i)).to_contain_text(FINISHED, timeout=60_000)
    page.screenshot(path=ARTIFACTS / "playground.png", full_page=True)
    for i in range(3):
        assert "###" not in boxes.nth(i).input_value()


def set_number(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input[type=number]").first
    box.fill(str(value))
    box.press("Enter")


def set_text(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    box.fill(value)
    box.blur()


def test_stop_ends_a_long_run_and_keeps_the_text(page, app_url):
    page.goto(app_url)
    set_number(page, "c0-max_new_tokens", 1000)
    set_text(page, "c0-end_sequence", "")
    page.click("#run")
    expect(page.locator("#c0-status")).to_contain_text("generating", timeout=30_000)
    page.wait_for_timeout(500)
    page.click("#stop")
    expect(page.locator("#c0-status")).to_contain_text("✓ stopped", timeout=30_000)
    assert page.locator("#c0-text textarea").input_value()
    for i in (1, 2):  # the short columns ran beside it and keep their results
        expect(page.locator(f"#c{i}-status")).to_contain_text(FINISHED)
    # The page still works: run again, now to completion.
    set_number(page, "c0-max_new_tokens", 8)
    set_text(page, "c0-end_sequence", "###")
    page.click("#run")
    for i in range(3):
        expect(page.locator(f"#c{i}-status")).to_contain_text(FINISHED, timeout=60_000)


def test_one_failing_column_does_not_stop_the_others(page, app_url):
    page.goto(app_url)
    set_text(page, "task", "Classify the sentiment of each tweet. " * 120)  # ~1,000 tokens
    set_number(page, "c1-max_new_tokens", 1024)
    page.click("#run")
    expect(page.locator("#c1-status")).to_contain_text("context holds 2048", timeout=60_000)
    for i in (0, 2):
        expect(page.locator(f"#c{i}-status")).to_contain_text(FINISHED, timeout=60_000)
        expect(page.locator(f"#c{i}-text textarea")).not_to_have_value("")


def test_an_empty_query_is_refused_with_a_message(page, app_url):
    page.goto(app_url)
    set_text(page, "query", "   ")
    expect(page.locator("#token-info")).to_contain_text("the query is empty")
    page.click("#run")
    expect(page.get_by_text("The query is empty: type the text the model should complete.").first).to_be_visible()
    expect(page.locator("#c0-text textarea")).to_have_value("")


def test_raw_mode_edits_the_text_and_parses_it_back(page, app_url):
    page.goto(app_url)
    page.get_by_label("Edit raw prompt").check()
    preview = page.locator("#preview textarea")
    expect(preview).to_be_editable()
    preview.fill(preview.input_value().replace("This new music video was incredible", "The food was cold"))
    page.get_by_label("Edit raw prompt").uncheck()
    expect(page.locator("#query textarea, #query input").first).to_have_value("The food was cold")
    expect(preview).not_to_be_editable()
    # A raw text that does not follow the format keeps raw mode on and says why.
    page.get_by_label("Edit raw prompt").check()
    preview.fill("no format here")
    page.get_by_label("Edit raw prompt").uncheck()
    expect(page.get_by_text("Kept raw mode").first).to_be_visible()
    expect(page.get_by_label("Edit raw prompt")).to_be_checked()
    expect(preview).to_have_value("no format here")
