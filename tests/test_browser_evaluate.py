"""The Evaluate tab in a real headless Chromium: a small bundled CSV evaluated on the embedded model."""

import csv
import re

from playwright.sync_api import expect

from tests.conftest import ARTIFACTS, ROOT
from tests.test_browser import open_app, open_section, set_text

REVIEWS = ROOT / "tests" / "data" / "eval_reviews.csv"  # 20 plain reviews, 10 of each label


def test_evaluate_a_csv_shows_the_chart_cells_and_failures(page, app_url, tmp_path):
    page.set_viewport_size({"width": 1400, "height": 900})
    open_app(page, app_url)
    open_section(page, "Evaluate", "eval-shots")
    page.locator("#eval-file input[type=file]").set_input_files(str(REVIEWS))
    set_text(page, "eval-shots", "0, 2")
    set_text(page, "eval-limit", "8")
    page.locator("#eval-draws input[type=number]").fill("2")
    page.locator("#eval-draws input[type=number]").press("Enter")
    set_text(page, "eval-labels", "positive, negative")
    page.click("#run-eval")
    expect(page.locator("#eval-progress progress")).to_be_visible(timeout=60_000)
    expect(page.locator("#eval-progress")).to_contain_text(re.compile(r"\d+/24 rows"), timeout=120_000)
    expect(page.locator("#eval-progress")).to_contain_text("✓ done", timeout=600_000)  # a loaded 2-core box

    # The chart: one line per calibration method, error bars, the baseline, legend and axis titles.
    chart = page.locator("#eval-chart svg")
    expect(chart).to_be_visible()
    expect(chart).to_contain_text("labels · none")
    expect(chart).to_contain_text("labels · batch")
    expect(chart).to_contain_text("majority baseline 50%")
    expect(chart).to_contain_text("shots (examples in the prompt)")
    expect(chart).to_contain_text("accuracy (mean ± std over draws)")
    assert chart.locator("circle.point").count() == 4  # 2 shots × 2 methods

    summary = page.locator("#eval-summary textarea").input_value()
    assert "8 evaluation rows, a pool of 10 examples" in summary, summary
    table = page.locator("#eval-cells").inner_text()
    figures = {(int(s), m): float(a) for s, m, a in re.findall(r"(\d)\s+labels\s+(none|batch)\s+([\d.]+) ±", table)}
    assert set(figures) == {(0, "none"), (0, "batch"), (2, "none"), (2, "batch")}, table
    # Eight plain reviews: the best calibrated cell beats always answering one label.
    assert max(figures[(k, "batch")] for k in (0, 2)) > 0.5, table

    with page.expect_download() as download:
        page.click("#eval-dl-failures")
    saved = tmp_path / "failures.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(saved.open()))
    assert rows == [] or set(rows[0]) == {"shots", "calibrate", "scoring", "draw", "input", "expected", "got",
                                          "probability"}
    # The table and the file agree: zero shots is one draw of 8 rows, so its failures are (1 - accuracy) × 8.
    for method in ("none", "batch"):
        wrong = sum(r["shots"] == "0" and r["calibrate"] == method for r in rows)
        assert wrong == round((1 - figures[(0, method)]) * 8), (method, rows, table)
        assert all(r["expected"] != r["got"] for r in rows)
    page.locator("#evaluate").screenshot(path=ARTIFACTS / "evaluate.png")


def test_a_bad_shots_list_is_refused_in_one_line(page, app_url):
    open_app(page, app_url)
    open_section(page, "Evaluate", "eval-shots")
    page.locator("#eval-file input[type=file]").set_input_files(str(REVIEWS))
    set_text(page, "eval-shots", "0, four")
    page.click("#run-eval")
    expect(page.get_by_text("Shots takes whole numbers from 0 to 64").first).to_be_visible(timeout=30_000)


def test_stop_keeps_the_cells_already_computed(page, app_url):
    open_app(page, app_url)
    open_section(page, "Evaluate", "eval-shots")
    page.locator("#eval-file input[type=file]").set_input_files(str(REVIEWS))
    set_text(page, "eval-shots", "0, 2")
    set_text(page, "eval-limit", "8")
    page.locator("#eval-draws input[type=number]").fill("10")
    page.locator("#eval-draws input[type=number]").press("Enter")
    page.click("#run-eval")
    # 8 zero-shot rows (one draw) + 10 two-shot draws of 8 rows = 88. Once zero shots are done and the
    # two-shot draws are being scored — whatever count the progress line happens to show — Stop.
    expect(page.locator("#eval-progress")).to_contain_text(re.compile(r"\b(?:[89]|[1-7]\d|8[0-7])/88 rows"),
                                                          timeout=600_000)
    page.click("#stop-eval")
    expect(page.locator("#eval-progress")).to_contain_text("✓ stopped", timeout=300_000)
    progress = page.locator("#eval-progress").inner_text()
    assert int(re.search(r"(\d+)/88 rows", progress).group(1)) < 88, progress
    assert "Stopped:" in page.locator("#eval-summary textarea").input_value()
    table = page.locator("#eval-cells").inner_text()
    assert re.search(r"0\s+labels\s+none\s+[\d.]+ ±", table) and re.search(r"0\s+labels\s+batch\s+[\d.]+ ±", table)
    expect(page.locator("#eval-chart svg")).to_be_visible()


def test_a_backend_that_cannot_score_offers_generation(page, app_url):
    open_app(page, app_url)
    open_section(page, "Backends", "eA-url")
    page.locator("#eA-kind input").first.click()
    page.get_by_role("option", name="Ollama").first.click()
    set_text(page, "eA-url", "http://127.0.0.1:9")
    open_section(page, "Evaluate", "eval-shots")
    page.locator("#eval-file input[type=file]").set_input_files(str(REVIEWS))
    page.locator("#eval-backend input").first.click()
    page.get_by_role("option", name="Endpoint A (see Backends)").click()
    page.click("#run-eval")
    expect(page.locator("#eval-progress")).to_contain_text("cannot score labels by log-probability", timeout=30_000)
    expect(page.locator("#eval-progress")).to_contain_text("Generation is now ticked")
    scoring = page.locator("#eval-scoring")
    expect(scoring.get_by_label("Generation (greedy, first line → label)")).to_be_checked()
    expect(scoring.get_by_label("Label log-probability")).not_to_be_checked()
