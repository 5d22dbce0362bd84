"""The layout in a real headless Chromium: at 1400×900 the default page shows the prompt, Run / Stop and
every column's answer without scrolling; charts show their legend and axis titles; screenshots at
1400×900 and 390 px wide go to tests/artifacts/ to be looked at."""

import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS
from tests.test_browser import FINISHED, open_app, set_number

WIDE = {"width": 1400, "height": 900}
NARROW = {"width": 390, "height": 844}


@pytest.fixture
def wide(browser):
    context = browser.new_context(viewport=WIDE)
    yield context.new_page()
    context.close()


def in_view(page, selector: str) -> bool:
    """The element is wholly inside the viewport, as the page opens (no scrolling)."""
    box = page.locator(selector).first.bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["x"] >= 0 and box["y"] + box["height"] <= size["height"] \
        and box["x"] + box["width"] <= size["width"]


def inside(inner: dict, outer: dict) -> bool:
    return inner["x"] >= outer["x"] - 1 and inner["y"] >= outer["y"] - 1 and \
        inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 1 and \
        inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 1


def test_prompt_run_and_answers_are_visible_at_once(wide, app_url):
    open_app(wide, app_url)
    for selector in ("#preset", "#task", "#examples", "#query", "#token-info", "#run", "#stop"):
        assert in_view(wide, selector), f"{selector} is below the fold at 1400×900"
    wide.click("#run")
    for i in range(3):
        expect(wide.locator(f"#c{i}-status")).to_contain_text(FINISHED, timeout=60_000)
        for part in ("backend", "text", "status"):  # the header, the answer under it, and its status line
            assert in_view(wide, f"#c{i}-{part}"), f"column {i + 1}'s {part} is below the fold at 1400×900"
    assert wide.evaluate("window.scrollY") == 0
    wide.screenshot(path=ARTIFACTS / "layout-1400x900.png")


def test_each_column_shows_its_answer_right_under_its_header(wide, app_url):
    open_app(wide, app_url)
    for i in range(3):
        header = wide.locator(f"#c{i}-backend").bounding_box()
        answer = wide.locator(f"#c{i}-text").bounding_box()
        settings = wide.locator(f"#c{i}-temperature").bounding_box()
        assert header["y"] < answer["y"] < settings["y"]  # header, answer, then the settings
        assert answer["y"] - (header["y"] + header["height"]) < 30


def test_column_help_is_one_line(wide, app_url):
    open_app(wide, app_url)
    info = wide.locator("#c0-temperature .info-text").first
    expect(info).to_contain_text("Randomness")  # the whole help text is there (shown on hover)
    line = float(info.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 20"))
    assert info.bounding_box()["height"] <= line * 1.5


def test_the_answer_chart_shows_its_legend_and_axis_titles(wide, app_url):
    open_app(wide, app_url)
    set_number(wide, "samples", 3)
    wide.click("#run")
    for i in range(3):
        expect(wide.locator(f"#c{i}-status")).to_contain_text("✓ 3/3 samples", timeout=60_000)
    plot = wide.locator("#dist-plot")
    expect(plot.locator(".role-legend")).to_be_visible()
    wide.wait_for_timeout(500)  # the chart settles to its final size
    frame = plot.bounding_box()
    for part in (".role-legend", ".role-axis-title"):
        for box in [e.bounding_box() for e in plot.locator(part).all()]:
            assert box and inside(box, frame), f"{part} at {box} is cut off by the chart's box {frame}"
    expect(plot.locator(".role-legend-title")).to_have_text("answer")
    assert sorted(plot.locator(".role-axis-title").all_text_contents()) == ["column", "samples"]
    plot.scroll_into_view_if_needed()
    plot.screenshot(path=ARTIFACTS / "answer-chart.png")


def test_a_phone_wide_page_stacks_without_overflowing(browser, app_url):
    context = browser.new_context(viewport=NARROW)
    page = context.new_page()
    open_app(page, app_url)
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"] + 1  # no sideways scrolling
    page.screenshot(path=ARTIFACTS / "layout-390.png", full_page=True)
    context.close()
