"""The "Choose examples" panel's library side, without the model: which rows it loads and splits, how
an applied `similar` choice becomes a preset strategy whose pool only the store folder can serve,
and the figures it shows."""

import pandas as pd
import pytest

from fewshot import presets, select
from fewshot.errors import ConfigError
from fewshot.ui import choose_examples as ce
from tests.conftest import ROOT

POOL = ROOT / "tests" / "data" / "select_pool.csv"
ROWS = ROOT / "tests" / "data" / "select_rows.csv"


def test_a_separate_eval_csv_is_split_into_selection_and_test():
    d = ce.load_data(str(POOL), str(ROWS), test_split=0.5, seed=0)
    assert (len(d.pool), len(d.selection), len(d.test)) == (12, 6, 6)
    assert d.labels == ["animal", "money", "sport"] and d.dropped == 0
    evaluated = set(d.selection["text"]) | set(d.test["text"])
    assert evaluated == set(pd.read_csv(ROWS)["text"]) and not evaluated & set(d.pool["text"])
    assert not set(d.selection["text"]) & set(d.test["text"])


def test_one_csv_is_split_into_pool_and_evaluation_rows_by_seed():
    a, b = (ce.load_data(str(ce.SAMPLE), None, 0.5, 0.5, seed=s) for s in (0, 1))
    assert (len(a.pool), len(a.selection), len(a.test)) == (18, 9, 9) and a.labels == ["negative", "neutral",
                                                                                          "positive"]
    assert not set(a.pool["text"]) & (set(a.selection["text"]) | set(a.test["text"]))
    assert set(a.test["text"]) != set(b.test["text"])  # the seed decides the split
    assert ce.load_data(str(ce.SAMPLE), None, 0.5, 0.5, seed=0).test.equals(a.test)


def test_no_file_says_what_to_do():
    with pytest.raises(ConfigError, match=r"Upload a labelled CSV .* or press “Use sample data” first"):
        ce.load_data(None)


def test_an_applied_similar_choice_is_a_strategy_only_the_store_folder_serves(tmp_path):
    d = ce.load_data(str(POOL), str(ROWS))
    index = select.SimilarIndex(d.pool)
    choice = select.Choice("similar", 2, (), 0.5, 0.5, index=index)
    outcome = ce.Outcome(choice, select.Draws((0.5, 0.5)), 0.5, d, "batch")
    strategy = presets.ExampleStrategy(**ce.strategy_of(outcome, tmp_path))
    assert strategy.method == "similar" and strategy.k == 2 and strategy.pool.startswith("pools/")
    query = "a dog and a cat in the garden"
    assert select.chooser_for(strategy, base=tmp_path)(query) == choice.examples_for(query)
    with pytest.raises(ConfigError, match="outside"):  # a link naming any other file is refused
        select.chooser_for(strategy.model_copy(update={"pool": str(POOL)}), base=tmp_path)
    fixed = ce.Outcome(select.Choice("search", 2, choice.examples_for(query), 0.5, 0.5), outcome.draws, 0.5, d, "batch")
    assert ce.strategy_of(fixed, tmp_path) is None  # a fixed set is just the examples


def test_the_figures_put_the_choice_next_to_random_draws_and_the_majority():
    d = ce.load_data(str(POOL), str(ROWS))
    choice = select.Choice("balanced", 3, (), 4 / 6, 5 / 6)
    o = ce.Outcome(choice, select.Draws((0.5, 2 / 3)), 1 / 3, d, "batch")
    table = ce.figures(o)
    assert "| **chosen examples · test split (held out)** | 6 | **83.3%** |" in table
    assert "mean ± std of 2 draws | 6 | 58.3% ± 11.8% |" in table and "| 33.3% |" in table
    assert "+25.0 points against random draws — better than" in ce.headline(o)
    worse = ce.Outcome(select.Choice("random", 3, (), 0.5, 0.5), o.draws, 1 / 3, d, "batch")
    assert "-8.3 points against random draws — no better than" in ce.headline(worse)
