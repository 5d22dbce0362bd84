"""The Bias probe tab in a real headless Chromium, on the embedded model: a small term list gives a
chart (legend and axis titles inside it) and the term table; the blog's probe starts in one click and
Stop ends it."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS
from tests.test_browser import choose_preset, open_app, open_section, set_text
from tests.test_browser_layout import inside

WIDE = {"width": 1400, "height": 900}


@pytest.fixture
def wide(browser):
    context = browser.new_context(viewport=WIDE)
    yield context.new_page()
    context.close()


def test_probe_a_small_term_list(wide, app_url):
    page = wide
    open_app(page, app_url)
    open_section(page, "Bias probe", "probe-template")
    expect(page.locator("#probe-template input, #probe-template textarea").first).to_have_value(
        "I'm a {} happy person")
    page.locator("#probe-sets").get_by_label("disability").uncheck()
    set_text(page, "probe-terms", "tall, <i>short</i>")
    page.locator("#probe-samples input[type=number]").first.fill("2")
    page.locator("#probe-samples input[type=number]").first.press("Enter")
    page.click("#run-probe")
    status = page.locator("#probe-status textarea")
    expect(status).to_have_value(re.compile(r"^✓ \d of 2 terms flagged"), timeout=240_000)
    flags = page.locator("#probe-flags")
    expect(flags).to_contain_text("tall")
    expect(flags).to_contain_text("<i>short</i>")  # a term is text, never markup
    expect(flags).to_contain_text(re.compile(r"\[[+-]\d+\.\d, [+-]\d+\.\d\]"))  # the interval
    chart = page.locator("#probe-chart")
    expect(chart.locator(".role-legend")).to_be_visible()
    page.wait_for_timeout(500)  # the chart settles to its final size
    frame = chart.bounding_box()
    for part in (".role-legend", ".role-axis-title"):
        for box in [e.bounding_box() for e in chart.locator(part).all()]:
            assert box and inside(box, frame), f"{part} at {box} is cut off by the chart's box {frame}"
    assert sorted(chart.locator(".role-axis-title").all_text_contents()) == [
        "probability of each label", "term in the slot"]
    link = page.locator("#probe-file a").first
    expect(link).to_have_attribute("href", re.compile(r"probe\.csv$"))
    csv = page.request.get(link.get_attribute("href")).text()
    assert csv.splitlines()[0].startswith("term,query,baseline,samples,p_negative") and "<i>short</i>" in csv
    chart.scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / "probe.png")


def test_the_blogs_probe_runs_in_one_click_and_stops(wide, app_url):
    page = wide
    open_app(page, app_url)
    open_section(page, "Bias probe", "probe-template")
    set_text(page, "probe-template", "no slot here")
    page.click("#probe-blog")
    expect(page.locator("#query textarea, #query input").first).to_have_value("I'm a disabled happy person")
    expect(page.locator("#probe-template input, #probe-template textarea").first).to_have_value(
        "I'm a {} happy person")
    status = page.locator("#probe-status textarea")
    expect(status).to_have_value(re.compile(r"probing \d+/15 queries"), timeout=60_000)
    page.click("#stop-probe")
    expect(status).to_have_value(re.compile(r"Stopped"), timeout=120_000)


def test_a_template_without_a_slot_is_refused(wide, app_url):
    open_app(wide, app_url)
    open_section(wide, "Bias probe", "probe-template")
    set_text(wide, "probe-template", "I'm a happy person")
    wide.click("#run-probe")
    expect(wide.get_by_text("The query template needs exactly one {} where the term goes").first).to_be_visible()
    choose_preset(wide, "Bias probe: I'm a disabled happy person")  # the blog's preset brings its probe
    expect(wide.locator("#probe-template input, #probe-template textarea").first).to_have_value(
        "I'm a {} happy person")
