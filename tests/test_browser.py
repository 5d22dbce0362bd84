"""The playground in a real headless Chromium (Debian's), driven by Playwright."""

import json
import re

from playwright.sync_api import expect

from tests.conftest import ARTIFACTS

FINISHED = re.compile(r"✓ (end sequence|max tokens|end of text) · \d+ tokens? · [\d.]+ s")


def open_app(page, url: str) -> None:
    """Load the page and wait for its first preview, as a person would before typing."""
    page.goto(url)
    expect(page.locator("#token-info")).to_contain_text("tokens", timeout=30_000)


def open_section(page, title: str, first_field: str) -> None:
    """Open a tab below Compare and wait until its first field is on the page with its value (its
    contents are drawn when it opens; typing before that is lost)."""
    page.get_by_role("tab", name=title).click()
    field = page.locator(f"#{first_field} textarea, #{first_field} input").first
    expect(field).to_be_visible()
    page.wait_for_timeout(300)


def choose_preset(page, name: str) -> None:
    page.get_by_label("Preset").click()
    page.get_by_role("option", name=name).click()


def completions(page):
    return page.locator(".completion textarea")


def test_sentiment_preset_runs_three_columns(page, app_url):
    open_app(page, app_url)
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
    """Type into a text field as a person does: the last keystroke is a real key press, then a short
    pause before the next click (Gradio takes the new value over a tick after the field loses focus)."""
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    if value:
        box.fill(value[:-1])
        box.press_sequentially(value[-1])
    else:
        box.fill("x")
        box.press("Backspace")
    box.blur()
    page.wait_for_timeout(250)


def test_stop_ends_a_long_run_and_keeps_the_text(page, app_url):
    open_app(page, app_url)
    set_number(page, "c0-max_new_tokens", 1000)
    set_text(page, "c0-end_sequence", "")
    page.click("#run")
    for i in (1, 2):  # the short columns finish beside the long one
        expect(page.locator(f"#c{i}-status")).to_contain_text(FINISHED, timeout=60_000)
    expect(page.locator("#c0-status")).to_contain_text("generating")
    page.click("#stop")
    expect(page.locator("#c0-status")).to_contain_text("✓ stopped", timeout=30_000)
    assert page.locator("#c0-text textarea").input_value()
    for i in (1, 2):  # and keep their results
        expect(page.locator(f"#c{i}-status")).to_contain_text(FINISHED)
    # The page still works: run again, now to completion.
    set_number(page, "c0-max_new_tokens", 8)
    set_text(page, "c0-end_sequence", "###")
    page.click("#run")
    for i in range(3):
        expect(page.locator(f"#c{i}-status")).to_contain_text(FINISHED, timeout=60_000)


def test_one_failing_column_does_not_stop_the_others(page, app_url):
    open_app(page, app_url)
    set_text(page, "task", "Classify the sentiment of each tweet. " * 120)  # ~1,000 tokens
    set_number(page, "c1-max_new_tokens", 1024)
    page.click("#run")
    expect(page.locator("#c1-status")).to_contain_text("context holds 2048", timeout=60_000)
    for i in (0, 2):
        expect(page.locator(f"#c{i}-status")).to_contain_text(FINISHED, timeout=60_000)
        expect(page.locator(f"#c{i}-text textarea")).not_to_have_value("")


def test_an_empty_query_is_refused_with_a_message(page, app_url):
    open_app(page, app_url)
    set_text(page, "query", "   ")
    expect(page.locator("#token-info")).to_contain_text("the query is empty")
    page.click("#run")
    expect(page.get_by_text("The query is empty: type the text the model should complete.").first).to_be_visible()
    expect(page.locator("#c0-text textarea")).to_have_value("")


def test_raw_mode_edits_the_text_and_parses_it_back(page, app_url):
    open_app(page, app_url)
    page.get_by_label("Edit raw prompt").check()
    preview = page.locator("#preview textarea")
    expect(preview).to_be_editable()
    set_text(page, "preview", preview.input_value().replace("This new music video was incredible", "The food was cold"))
    page.get_by_label("Edit raw prompt").uncheck()
    expect(page.locator("#query textarea, #query input").first).to_have_value("The food was cold")
    expect(preview).not_to_be_editable()
    # A raw text that does not follow the format keeps raw mode on and says why.
    page.get_by_label("Edit raw prompt").check()
    set_text(page, "preview", "no format here")
    page.get_by_label("Edit raw prompt").click()  # unticks; the app ticks it again
    expect(page.get_by_text("Kept raw mode").first).to_be_visible()
    expect(page.get_by_label("Edit raw prompt")).to_be_checked()
    expect(preview).to_have_value("no format here")


def test_samples_show_the_answer_distribution(page, app_url):
    open_app(page, app_url)
    set_number(page, "samples", 4)
    page.click("#run")
    for i in range(3):
        expect(page.locator(f"#c{i}-status")).to_contain_text("✓ 4/4 samples", timeout=60_000)
        numbered = re.compile(r"^\[1\] .*\n\[2\] .*\n\[3\] .*\n\[4\] ", re.S)
        expect(page.locator(f"#c{i}-text textarea")).to_have_value(numbered)
    expect(page.locator("#dist-plot")).to_be_visible()
    expect(page.locator("#c0-status")).to_contain_text(re.compile(r"positive ×\d"))


def test_a_sweep_fills_its_table_and_chart(page, app_url):
    open_app(page, app_url)
    open_section(page, "Sweep", "sweep-values")
    set_text(page, "sweep-values", "0, 1.5")
    page.click("#run-sweep")
    expect(page.locator("#sweep-status")).to_contain_text("✓ 10/10 done", timeout=60_000)
    table = page.locator("#sweep-table")
    expect(table).to_contain_text("temperature=1.5")
    expect(table.locator("[role=grid]")).to_have_attribute("aria-rowcount", "11")  # header + 10 rows
    page.locator("#sweep").screenshot(path=ARTIFACTS / "sweep.png")


def test_a_bad_sweep_value_is_refused_with_a_message(page, app_url):
    open_app(page, app_url)
    open_section(page, "Sweep", "sweep-values")
    set_text(page, "sweep-values", "0.5, 7")
    page.click("#run-sweep")
    expect(page.get_by_text("temperature must be less than or equal to 2").first).to_be_visible()


def choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").first.click()
    page.get_by_role("option", name=option).first.click()


def test_columns_on_different_backends_with_one_failing(page, app_url, replay):
    open_app(page, app_url)
    open_section(page, "Backends", "eA-url")
    choose(page, "eA-kind", "TGI / Hugging Face endpoint")
    set_text(page, "eA-url", replay.url)
    choose(page, "eB-kind", "TGI / Hugging Face endpoint")
    set_text(page, "eB-url", replay.scenario("status=401"))
    expect(page.locator("#eA-token input")).to_have_attribute("type", "password")
    choose(page, "c1-backend", f"A: tgi {replay.url}")
    choose(page, "c2-backend", "B: tgi")
    page.click("#run")
    expect(page.locator("#c0-status")).to_contain_text(FINISHED, timeout=60_000)
    expect(page.locator("#c1-status")).to_contain_text("tgi replay-model", timeout=60_000)
    expect(page.locator("#c1-text textarea")).to_have_value(" positive\n")
    expect(page.locator("#c2-status")).to_contain_text("The token was refused or is missing (401)", timeout=60_000)
    page.screenshot(path=ARTIFACTS / "backends.png", full_page=True)


def test_a_chat_endpoint_shows_the_turns_it_will_receive(page, app_url, replay):
    open_app(page, app_url)
    open_section(page, "Backends", "eA-url")
    choose(page, "eC-kind", "Chat completions (chat-only models, Hugging Face router)")
    set_text(page, "eC-url", replay.url + "/v1")
    page.locator("#eC-check").click()
    expect(page.locator("#eC-status")).to_contain_text("✓ answered", timeout=30_000)
    choose(page, "c0-backend", "C: chat")
    page.get_by_role("tab", name="Prompt text").click()  # the turns sit beside the prompt's text
    messages = page.locator("#chat-messages")
    expect(messages).to_be_visible()
    expect(messages).to_contain_text("Classify the sentiment of each tweet")
    expect(messages).to_contain_text("assistant")
    page.click("#run")
    expect(page.locator("#c0-text textarea")).to_have_value("The sentiment is positive.", timeout=60_000)


def test_out_of_range_settings_are_refused_naming_the_column(page, app_url):
    open_app(page, app_url)
    page.locator("#column-2").get_by_text("More settings").click()
    set_number(page, "c2-seed", -5)
    page.click("#run")
    expect(page.get_by_text("Column 3: seed must be greater than or equal to 0 (got -5)").first).to_be_visible()
    expect(page.locator("#c0-text textarea")).to_have_value("")  # nothing ran, nothing was lost
    expect(page.locator("#c2-seed input").first).to_have_value("-5")


def test_correct_rate_and_keep_an_answer_as_an_example(page, app_url, app_flag_dir, replay):
    open_app(page, app_url)
    open_section(page, "Backends", "eA-url")
    choose(page, "eA-kind", "TGI / Hugging Face endpoint")
    set_text(page, "eA-url", replay.url)
    set_text(page, "eA-token", "hf_never_in_feedback")
    choose(page, "c1-backend", f"A: tgi {replay.url}")
    page.click("#run")
    expect(page.locator("#c1-status")).to_contain_text(FINISHED, timeout=60_000)
    set_text(page, "c1-text", "positive (checked)")
    page.click("#c1-bad")
    expect(page.get_by_text("Saved your 👎 for column 2").first).to_be_visible()
    record = (app_flag_dir / "feedback.jsonl").read_text().splitlines()[-1]
    saved = json.loads(record)
    assert saved["rating"] == "bad" and saved["completion"] == "positive (checked)"
    assert saved["backend"] == {"kind": "tgi", "url": replay.url, "model": ""}
    assert "hf_never_in_feedback" not in (app_flag_dir / "feedback.jsonl").read_text()
    page.get_by_role("tab", name="Feedback").click()  # the verdict is listed, as text
    page.click("#feedback-refresh")
    expect(page.locator("#feedback-table")).to_contain_text("positive (checked)")
    expect(page.locator("#feedback-table")).to_contain_text("tgi")

    page.click("#c1-add")
    expect(page.locator("#examples")).to_contain_text("positive (checked)")
    expect(page.locator("#token-info")).to_contain_text("5 examples")
