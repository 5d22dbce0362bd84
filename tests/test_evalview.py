"""The Evaluate panel's library side: pool and rows, the shots list, tables, CSV files and the SVG chart."""

import re

import pandas as pd
import pytest

from fewshot import evalview
from fewshot.errors import ConfigError
from fewshot.evaluate import Cell, Failure, GridResult
from fewshot.prompt import Example
from tests.conftest import ROOT

REVIEWS = ROOT / "tests" / "data" / "eval_reviews.csv"


def cell(shots, method, accuracy, std, scoring="labels", failures=()):
    return Cell(shots, method, scoring, accuracy, std, 8, 1 if shots == 0 else 3,
                {"pos": {"precision": 0.5, "recall": 1.0}, "<neg>": {"precision": 1.0, "recall": 0.25}},
                confusion={"pos": {"pos": 4, "<neg>": 0}, "<neg>": {"pos": 3, "<neg>": 1}}, failures=failures)


RESULT = GridResult(
    (cell(0, "none", 0.5, 0.0, failures=(Failure("a <b>", "<neg>", "pos", 0.7),)), cell(0, "batch", 0.75, 0.0),
     cell(4, "none", 0.625, 0.125), cell(4, "batch", 0.875, 0.05), cell(4, "none", 0.6, 0.1, scoring="generate")),
    ("pos", "<neg>"), ("<neg>", 0.5))


@pytest.mark.parametrize("text, shots", [("0, 4, 8", [0, 4, 8]), ("8,0,8", [0, 8]), (" 2 ", [2]), ([4, 0], [0, 4])])
def test_shots_are_parsed_sorted_and_once(text, shots):
    assert evalview.parse_shots(text) == shots


@pytest.mark.parametrize("text", ["", "0, four", "-1", "1.5", "65"])
def test_a_bad_shots_list_names_the_fix(text):
    with pytest.raises(ConfigError, match=r"Shots takes whole numbers|at least one number of shots"):
        evalview.parse_shots(text)


def test_a_split_gives_disjoint_pool_and_limited_rows():
    pool, rows = evalview.pool_and_rows(REVIEWS, "split", fraction=0.5, seed=3, limit=6)
    assert len(pool) == 10 and len(rows) == 6
    assert not set(pool["text"]) & set(rows["text"])
    again = evalview.pool_and_rows(REVIEWS, "split", fraction=0.5, seed=3, limit=6)
    assert list(again[1]["text"]) == list(rows["text"])  # seeded


def test_the_pool_can_be_a_second_csv_or_the_examples_table():
    pool, rows = evalview.pool_and_rows(REVIEWS, "csv", pool_csv=ROOT / "tests" / "data" / "tiny_sentiment.csv")
    assert (len(pool), len(rows)) == (8, 20)
    pool, _ = evalview.pool_and_rows(REVIEWS, "examples", examples=(Example(input="x", output="positive"),))
    assert list(pool.itertuples(index=False, name=None)) == [("x", "positive")]


@pytest.mark.parametrize("csv, source, kw, message", [
    (None, "split", {}, "Upload a CSV file"),
    (REVIEWS, "csv", {}, "Upload the pool CSV"),
    (REVIEWS, "examples", {}, "The examples table is empty"),
    (REVIEWS, "nowhere", {}, "Unknown example pool"),
])
def test_a_missing_input_says_what_to_do(csv, source, kw, message):
    with pytest.raises(ConfigError, match=message):
        evalview.pool_and_rows(csv, source, **kw)


def test_the_cells_table_shows_mean_and_std():
    table = evalview.cells_table(RESULT)
    assert list(table.columns) == ["shots", "scoring", "calibrate", "accuracy", "n", "draws"]
    assert table.iloc[3].tolist() == [4, "labels", "batch", "0.875 ± 0.050", 8, 3]


def test_per_label_rows_and_the_best_cell():
    table = evalview.per_label_table(RESULT)
    assert len(table) == 10 and table.iloc[1].tolist() == [0, "labels", "none", "<neg>", 1.0, 0.25]
    best = evalview.best_cell(RESULT)
    assert (best.shots, best.calibrate) == (4, "batch")
    assert "Best: 0.875 ± 0.050 at 4 shots (labels scoring, batch calibration, 3 draws)" in evalview.summary(
        RESULT, 10, 8)
    assert "Majority baseline 50.0%" in evalview.summary(RESULT, 10, 8)


def test_the_csv_files_hold_every_table(tmp_path):
    paths = evalview.write_csvs(RESULT, tmp_path)
    assert set(paths) == {"cells", "per_label", "confusion", "failures"}
    failures = pd.read_csv(paths["failures"])
    assert failures[["input", "expected", "got"]].values.tolist() == [["a <b>", "<neg>", "pos"]]
    assert len(pd.read_csv(paths["cells"])) == 5


def test_the_rate_line_gives_rows_per_second_and_eta():
    assert evalview.rate_line(10, 30, 5.0) == "10/30 rows · 2.00 rows/s · ETA 10 s"
    assert evalview.rate_line(0, 30, 5.0) == "0/30 rows · starting…"


def test_the_chart_draws_lines_error_bars_baseline_and_legend():
    svg = evalview.chart_svg(RESULT)
    for text in ("labels · none", "labels · batch", "generation", "majority baseline 50%",
                 "shots (examples in the prompt)", "accuracy (mean ± std over draws)"):
        assert text in svg
    assert svg.count('class="point"') == 5
    assert svg.count("<polyline") == 2  # generation has one point: no line
    # The baseline sits at 0.5 on the y axis: halfway between the 0.00 and 1.00 grid lines.
    y = {t: float(v) for v, t in re.findall(r'y="([\d.]+)" text-anchor="end" fill="#374151">([\d.]+)<', svg)}
    base = float(re.search(r'y1="([\d.]+)"[^>]*class="baseline"', svg).group(1))
    assert base == pytest.approx((y["0.00"] - 4 + y["1.00"] - 4) / 2)
    # 4 shots with batch: an error bar from 0.825 to 0.925.
    height = (y["0.00"] - 4) - (y["1.00"] - 4)
    lows = [float(v) for v in re.findall(r'y1="([\d.]+)" y2="[\d.]+" stroke="#dc2626"/>', svg)]
    assert any(v == pytest.approx(y["0.00"] - 4 - 0.825 * height, abs=0.1) for v in lows)


def test_labels_from_the_data_are_escaped_in_the_chart():
    svg = evalview.chart_svg(RESULT)
    assert "<neg>" not in svg and "&lt;neg&gt;" in svg


def test_a_stopped_grid_says_so():
    stopped = GridResult(RESULT.cells[:2], RESULT.labels, RESULT.majority, stopped=True)
    assert "Stopped: 2 cells were complete" in evalview.summary(stopped, 10, 8)
