"""Feedback end to end in a real headless Chromium: rate and correct completions (one sample of
several too), find them in the Feedback tab as plain text, filter, and re-open one in the playground."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS
from tests.test_browser import FINISHED, open_app, open_section, set_number, set_text

WIDE = {"width": 1400, "height": 900}
QUERY = "This new music video was incredible"  # the default preset's query
MARKUP = "<b>neutral</b> **not bold**"  # shown as typed, never rendered


@pytest.fixture
def wide(browser):
    context = browser.new_context(viewport=WIDE)
    yield context.new_page()
    context.close()


def records(flag_dir) -> list[dict]:
    return [json.loads(line) for line in (flag_dir / "feedback.jsonl").read_text().splitlines()]


def test_rate_correct_find_and_reopen(wide, app_url, app_flag_dir):
    page = wide
    open_app(page, app_url)
    # One sample: the seed the status line shows is the one saved, and the correction is kept apart.
    page.click("#run")
    expect(page.locator("#c1-status")).to_contain_text(FINISHED, timeout=60_000)
    shown_seed = re.search(r"seed (\d+)", page.locator("#c1-status").inner_text()).group(1)
    original = page.locator("#c1-text textarea").input_value()
    set_text(page, "c1-text", MARKUP)
    page.click("#c1-bad")
    expect(page.get_by_text("Saved your 👎 for column 2").first).to_be_visible()
    saved = records(app_flag_dir)[-1]
    assert (saved["rating"], saved["original"], saved["correction"], saved["completion"]) == (
        "bad", original, MARKUP, MARKUP)
    assert saved["seed"] == int(shown_seed) and saved["column"] == 1 and saved["sample"] == 0
    assert saved["preset"] == "sentiment" and saved["settings"]["temperature"] == 0.5
    assert saved["state"]["query"] == QUERY and saved["model"]

    # Several samples: each is rated on its own (sample 2 here, corrected in its own line).
    set_number(page, "samples", 2)
    expect(page.locator("#c0-pick")).to_be_visible()
    page.click("#run")
    expect(page.locator("#c0-status")).to_contain_text("✓ 2/2 samples", timeout=60_000)
    box = page.locator("#c0-text textarea").input_value()
    set_text(page, "c0-text", re.sub(r"(?m)^\[2\] .*$", "[2] sample two, fixed", box))
    set_number(page, "c0-pick", 2)
    page.click("#c0-good")
    expect(page.get_by_text("Saved your 👍 for column 1 sample 2").first).to_be_visible()
    second = records(app_flag_dir)[-1]
    assert (second["rating"], second["sample"], second["correction"]) == ("good", 1, "sample two, fixed")
    assert second["original"] != "sample two, fixed" and second["seed"] is not None
    expect(page.get_by_text(f"sample 2 (seed {second['seed']})").first).to_be_visible()  # the seed is shown

    # The page moves on; the Feedback tab finds the 👎 and re-opens its prompt and settings.
    set_number(page, "samples", 1)
    set_text(page, "query", "Something else entirely")
    set_number(page, "c0-temperature", 1.3)
    open_section(page, "Feedback", "fb-backend")
    choose_verdict(page, "👎 bad")
    table = page.locator("#feedback-table")
    expect(table).to_contain_text(MARKUP)  # as text: the tags and asterisks are there, nothing is bold
    expect(table.locator("b")).to_have_count(0)
    expect(table).not_to_contain_text("sample two, fixed")  # filtered out: it is a 👍
    expect(page.locator("#feedback-failures")).to_contain_text("temp=0.5")
    expect(page.locator("#feedback-status textarea")).to_have_value(re.compile(r"^\d+ of \d+ records match"))
    page.locator("#feedback").screenshot(path=ARTIFACTS / "feedback.png")
    number = len(records(app_flag_dir)) - 1  # the 👎, one before the last line
    table.get_by_text(MARKUP).locator("visible=true").first.click()  # clicking its row picks it
    expect(page.locator("#fb-number input").first).to_have_value(str(number))
    page.click("#fb-reopen")
    expect(page.locator("#query textarea, #query input").first).to_have_value(QUERY, timeout=30_000)  # a busy CPU
    expect(page.locator("#c0-temperature input[type=number]").first).to_have_value("0.5")
    expect(page.get_by_text(f"Re-opened record {number}").first).to_be_visible()

    page.click("#fb-export")
    link = page.locator("#fb-file a").first
    expect(link).to_have_attribute("href", re.compile(r"feedback\.csv$"))
    csv = page.request.get(link.get_attribute("href")).text()
    assert csv.startswith("time,rating,preset,backend") and MARKUP in csv and "sample two, fixed" not in csv


def choose_verdict(page, label: str) -> None:
    page.locator("#fb-verdict input").first.click()
    page.get_by_role("option", name=label).click()
    page.wait_for_timeout(500)


def test_a_bad_date_filter_says_how_to_write_it(wide, app_url):
    open_app(wide, app_url)
    open_section(wide, "Feedback", "fb-backend")
    set_text(wide, "fb-since", "yesterday")
    wide.locator("#fb-since input, #fb-since textarea").first.press("Enter")
    expect(wide.get_by_text("is not a date: write it as 2026-12-01").first).to_be_visible()
    status = wide.locator("#feedback-status textarea")
    set_text(wide, "fb-since", "2000-01-01")  # a date that is one: every record is from after it
    set_text(wide, "fb-until", "2000-01-02")
    wide.locator("#fb-until input, #fb-until textarea").first.press("Enter")
    expect(status).to_have_value(re.compile(r"^0 of \d+ records match"))
