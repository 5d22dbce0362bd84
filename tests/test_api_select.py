"""The public API `select`, called with gradio_client against the real app (`python app.py`) on 127.0.0.1."""

import json

import pandas as pd
import pytest
from gradio_client import handle_file

from fewshot import presets
from tests.conftest import ROOT

SENTIMENT = json.loads((presets.BUILTIN_DIR / "sentiment.json").read_text())
POOL = ROOT / "tests" / "data" / "select_pool.csv"
ROWS = ROOT / "tests" / "data" / "select_rows.csv"


def test_select_is_listed_with_its_parameter_names(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [p["parameter_name"] for p in endpoints["/select"]["parameters"]] == [
        "preset", "pool", "data", "k", "method", "budget", "calibration", "test_split", "seed", "draws"]


def test_a_small_search_reports_held_out_figures(client):
    out = client.predict(preset=SENTIMENT, pool=handle_file(str(POOL)), data=handle_file(str(ROWS)), k=2,
                         method="search", budget=2, calibration="batch", test_split=0.5, seed=0, draws=2,
                         api_name="/select")
    assert out["method"] == "search" and out["k"] == 2 and out["labels"] == ["animal", "money", "sport"]
    assert out["rows"] == {"pool": 12, "pool_dropped": 0, "selection": 6, "test": 6}
    pool, rows = pd.read_csv(POOL), pd.read_csv(ROWS)
    texts = [e["input"] for e in out["examples"]]
    assert len(texts) == 2 and set(texts) <= set(pool["text"]) and not set(texts) & set(rows["text"])
    assert out["search"]["candidates"] == 2 and not out["search"]["stopped"]
    assert len(out["random"]["accuracies"]) == 2
    assert out["random"]["mean"] == pytest.approx(sum(out["random"]["accuracies"]) / 2)
    for figure in (out["selection_accuracy"], out["test_accuracy"], *out["random"]["accuracies"]):
        assert figure * 6 == pytest.approx(round(figure * 6))  # a share of six rows
    assert 1 / 3 <= out["majority"] <= 1 and out["majority"] * 6 == pytest.approx(round(out["majority"] * 6))


def test_a_bad_method_and_a_missing_pool_say_what_to_do(client):
    with pytest.raises(Exception, match=r"Unknown method 'best': choose from random, balanced, similar, search"):
        client.predict(preset=SENTIMENT, pool=handle_file(str(POOL)), data=handle_file(str(ROWS)), k=2,
                       method="best", budget=2, calibration="batch", test_split=0.5, seed=0, draws=2,
                       api_name="/select")
    with pytest.raises(Exception, match="Upload a labelled CSV"):
        client.predict(preset=SENTIMENT, pool=None, data=None, k=2, method="random", budget=2, calibration="batch",
                       test_split=0.5, seed=0, draws=2, api_name="/select")
