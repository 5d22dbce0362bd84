"""The "Choose examples" tab in a real headless Chromium: a tiny search on the bundled sample CSVs,
Apply, and the examples table changes; the panel screenshotted at 1400×900."""

import re

import pandas as pd
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS, ROOT

POOL = ROOT / "tests" / "data" / "select_pool.csv"
ROWS = ROOT / "tests" / "data" / "select_rows.csv"


def set_number(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input[type=number]").first
    box.fill(str(value))
    box.press("Enter")


def test_search_on_a_sample_csv_and_apply_the_winner(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(app_url)
    expect(page.locator("#token-info")).to_contain_text("tokens", timeout=30_000)
    before = page.locator("#examples").inner_text()
    assert "hate it when my phone battery dies" in before  # the sentiment preset's own examples

    page.get_by_role("tab", name="Choose examples").click()
    expect(page.locator("#select-find")).to_be_visible()
    page.click("#select-apply", force=True)  # disabled until something is chosen: nothing happens

    # A few dozen rows of our own, and the smallest search that still compares candidates.
    page.locator("#select-pool input[type=file]").set_input_files(str(POOL))
    page.locator("#select-eval input[type=file]").set_input_files(str(ROWS))
    expect(page.locator("#select-eval")).to_contain_text(re.compile(r"select_rows\s*\.csv"))
    set_number(page, "select-k", 2)
    set_number(page, "select-budget", 2)
    set_number(page, "select-draws", 2)
    page.click("#select-find")
    status = page.locator("#select-status")
    expect(status).to_contain_text("on the held-out test rows", timeout=480_000)  # two cores, six engineers
    expect(status).to_contain_text(re.compile(r"Search: 2 of 2 candidates"))
    figures = page.locator("#select-figures").inner_text()
    for what in ("selection split", "test split (held out)", "mean ± std of 2 draws", "majority label"):
        assert what in figures, figures
    assert re.search(r"\d+\.\d% ± \d+\.\d%", figures), figures

    chosen = page.locator("#select-chosen").inner_text()
    pool, rows = pd.read_csv(POOL), pd.read_csv(ROWS)
    picked = sorted((t for t in pool["text"] if t in chosen), key=chosen.index)  # in prompt order
    assert len(picked) == 2, chosen  # two pool rows, and never an evaluated row
    assert not any(t in chosen for t in rows["text"]), chosen
    page.locator("#choose-examples").screenshot(path=ARTIFACTS / "choose-examples-1400x900.png")
    page.screenshot(path=ARTIFACTS / "choose-examples-page-1400x900.png")

    page.click("#select-apply")
    table = page.locator("#examples")
    for text in picked:
        expect(table).to_contain_text(text)
    assert "hate it when my phone battery dies" not in table.inner_text()  # replaced, in the chosen order
    after = table.inner_text()
    assert after.index(picked[0]) < after.index(picked[1])  # and in the chosen order

    # Two examples in the table now: both orders, on the same six test rows.
    page.click("#select-orders")
    orders = page.locator("#select-order-result")
    expect(orders).to_contain_text("2 orders on 6 test rows", timeout=480_000)
    expect(orders).to_contain_text(re.compile(r"min \d+\.\d% · median \d+\.\d% · max \d+\.\d%"))

    page.click("#select-sample")  # the bundled sample is one click away (and replaces both files)
    expect(page.locator("#select-pool")).to_contain_text(re.compile(r"tweets\s*\.csv"))
    expect(page.locator("#select-eval")).not_to_contain_text("select_rows")
    context.close()


def test_apply_similar_keeps_the_rule_and_its_pool_in_the_link(browser, app_url, app_presets_dir):
    from fewshot import presets, select

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(app_url)
    expect(page.locator("#token-info")).to_contain_text("tokens", timeout=30_000)
    page.locator("#query textarea, #query input").first.fill("the striker scored twice in the match")
    page.get_by_role("tab", name="Choose examples").click()
    expect(page.locator("#select-find")).to_be_visible()
    page.locator("#select-pool input[type=file]").set_input_files(str(POOL))
    page.locator("#select-eval input[type=file]").set_input_files(str(ROWS))
    expect(page.locator("#select-eval")).to_contain_text(re.compile(r"select_rows\s*\.csv"))
    page.locator("#select-method").get_by_text("similar", exact=True).click()
    set_number(page, "select-k", 2)
    set_number(page, "select-draws", 1)
    page.click("#select-find")
    expect(page.locator("#select-status")).to_contain_text("similar", timeout=480_000)
    expect(page.locator("#select-status")).to_contain_text("examples for the current query")
    page.click("#select-apply")
    expect(page.locator("#examples")).to_contain_text("sport")

    page.get_by_role("tab", name="Save · share · code").click()
    page.click("#copy-link")
    link = page.locator("#link textarea, #link input").first
    expect(link).to_have_value(re.compile(r"\?state="))
    state = presets.decode_state(link.input_value().split("?state=")[1])
    assert state.strategy is not None and (state.strategy.method, state.strategy.k) == ("similar", 2)
    assert state.strategy.pool.startswith("pools/")
    query = "the striker scored twice in the match"
    nearest = select.chooser_for(state.strategy, base=app_presets_dir)(query)
    assert state.examples == nearest  # the examples shown are the rule's choice for this query
    assert all(e.output == "sport" for e in nearest[-1:])  # the nearest row is about a match
    context.close()


def test_stop_ends_a_search_and_keeps_the_best_so_far(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(app_url)
    expect(page.locator("#token-info")).to_contain_text("tokens", timeout=30_000)
    page.get_by_role("tab", name="Choose examples").click()
    expect(page.locator("#select-find")).to_be_visible()
    page.locator("#select-pool input[type=file]").set_input_files(str(POOL))
    page.locator("#select-eval input[type=file]").set_input_files(str(ROWS))
    expect(page.locator("#select-eval")).to_contain_text(re.compile(r"select_rows\s*\.csv"))
    set_number(page, "select-k", 2)
    set_number(page, "select-budget", 200)
    set_number(page, "select-draws", 1)
    page.click("#select-find")
    # The progress bar counts candidates and the time left; stop once one full set has been scored.
    expect(page.locator("#choose-examples")).to_contain_text(re.compile(r"[1-9]\d*/200 candidates · about \d+ s left"),
                                                             timeout=480_000)
    page.click("#select-stop")
    status = page.locator("#select-status")
    expect(status).to_contain_text("stopped: the best so far is kept", timeout=480_000)
    done = int(re.search(r"Search: (\d+) of 200 candidates", status.inner_text()).group(1))
    assert 1 <= done < 200
    expect(page.locator("#select-chosen")).to_contain_text(re.compile(r"animal|money|sport"))
    context.close()
