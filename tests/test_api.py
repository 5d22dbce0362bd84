"""The public API, called with gradio_client against the real app (`python app.py`) on 127.0.0.1."""

import json

import pytest
from gradio_client import handle_file

from fewshot import presets
from tests.conftest import ROOT

SENTIMENT = json.loads((presets.BUILTIN_DIR / "sentiment.json").read_text())
TINY = ROOT / "tests" / "data" / "tiny_sentiment.csv"
REVIEWS = ROOT / "tests" / "data" / "eval_reviews.csv"


def test_the_api_page_lists_run_and_evaluate_with_their_parameter_names(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert set(endpoints) == {"/run", "/evaluate", "/probe", "/select"}
    assert [p["parameter_name"] for p in endpoints["/run"]["parameters"]] == ["preset", "query"]
    assert [p["parameter_name"] for p in endpoints["/evaluate"]["parameters"]] == [
        "preset", "csv", "labels", "rows", "calibrate", "shots", "draws", "balanced", "split", "pool", "scoring",
        "seed", "endpoint"]


def test_run_the_sentiment_preset_on_a_query(client):
    job = client.submit(preset=SENTIMENT, query="I love this song so much", api_name="/run")
    snapshots = list(job)
    final = job.result()
    assert len(snapshots) >= 2  # streamed: partial lists before the last one
    assert [(c["column"], c["sample"]) for c in final] == [(1, 1), (2, 1), (3, 1)]
    for c in final:
        assert c["done"] and c["error"] is None and c["finish_reason"] in ("end_sequence", "length", "end_of_text")
        assert c["text"].strip() and "###" not in c["text"]
        assert c["backend"] == "embedded" and c["completion_tokens"] >= 1
    assert [c["settings"]["temperature"] for c in final] == [0.1, 0.5, 0.9]


def test_run_samples_each_column_and_uses_the_presets_own_query(client):
    preset = {**SENTIMENT, "columns": [{"temperature": 0.0, "max_new_tokens": 3}], "samples": 3}
    final = client.predict(preset=preset, query="", api_name="/run")
    assert [(c["column"], c["sample"]) for c in final] == [(1, 1), (1, 2), (1, 3)]
    assert len({c["text"] for c in final}) == 1  # greedy: the same answer every time
    assert all(c["completion_tokens"] <= 3 for c in final)


def test_a_bad_preset_is_refused_naming_the_field(client):
    preset = {**SENTIMENT, "columns": [{"temperature": 7}]}
    with pytest.raises(Exception, match=r"columns\.0\.temperature must be less than or equal to 2"):
        client.predict(preset=preset, query="x", api_name="/run")


EVAL = {"labels": "positive, negative", "rows": 100, "calibrate": ["none", "batch"], "shots": "0", "draws": 1,
        "balanced": False, "split": 0, "pool": None, "scoring": ["labels"], "seed": 0, "endpoint": ""}


def test_evaluate_a_small_csv(client):
    """Eight plain reviews, zero-shot on the preset's task: raw and batch-calibrated cells, the same rows."""
    out = client.predict(preset=SENTIMENT, csv=handle_file(str(TINY)), **{**EVAL, "pool": handle_file(str(REVIEWS))},
                         api_name="/evaluate")
    assert (out["rows"], out["pool"], out["stopped"]) == (8, 20, False)
    assert (out["majority_label"], out["majority_baseline"]) == ("negative", 0.5)  # 4 and 4: the tie goes to "negative"
    assert [(c["shots"], c["calibrate"], c["scoring"], c["n"], c["draws"]) for c in out["cells"]] == [
        (0, "none", "labels", 8, 1), (0, "batch", "labels", 8, 1)]
    for c in out["cells"]:
        confusion = [r for r in out["confusion"] if r["calibrate"] == c["calibrate"]]
        assert sum(r["count"] for r in confusion) == 8
        right = sum(r["count"] for r in confusion if r["true"] == r["predicted"])
        assert c["accuracy"] == pytest.approx(right / 8, abs=1e-4)
        wrong = [f for f in out["failures"] if f["calibrate"] == c["calibrate"]]
        assert len(wrong) == 8 - right and all(f["expected"] != f["got"] and 0 < f["probability"] <= 1 for f in wrong)
        assert set(c["per_label"]) == {"positive", "negative"} and c["accuracy_std"] == 0
    # Eight plain reviews: the calibrated prompt must beat always answering one label.
    assert out["cells"][1]["accuracy"] > out["majority_baseline"]


def test_evaluate_without_a_file_says_what_to_do(client):
    with pytest.raises(Exception, match="Upload a CSV file with the columns text,label first"):
        client.predict(preset=SENTIMENT, csv=None, **EVAL, api_name="/evaluate")


def test_evaluate_on_an_endpoint_that_cannot_score_offers_generation(client):
    preset = {**SENTIMENT, "endpoints": {"A": {"kind": "ollama", "url": "http://127.0.0.1:9"}}}
    with pytest.raises(Exception, match=r"cannot score labels by log-probability .*use scoring by generation"):
        client.predict(preset=preset, csv=handle_file(str(TINY)), **{**EVAL, "endpoint": "A"}, api_name="/evaluate")


def test_evaluate_on_a_remote_server_by_generation(client, llama_server):
    """A real llama_cpp.server on 127.0.0.1: label scoring is refused with the reason, generation works."""
    preset = {**SENTIMENT, "endpoints": {"A": {"kind": "openai", "url": llama_server}}}
    remote = {**EVAL, "endpoint": "A", "split": 0.5}  # a pool of 4 of the 8 reviews, the other 4 scored
    with pytest.raises(Exception, match=r"llama_cpp\.server"):
        client.predict(preset=preset, csv=handle_file(str(TINY)), **remote, api_name="/evaluate")
    generation = {**remote, "scoring": ["generate"]}
    out = client.predict(preset=preset, csv=handle_file(str(TINY)), **generation, api_name="/evaluate")
    [cell] = out["cells"]
    assert (cell["shots"], cell["calibrate"], cell["scoring"], cell["n"]) == (0, "none", "generate", 4)
    assert len(out["failures"]) == round((1 - cell["accuracy"]) * 4)
    assert all(f["probability"] is None for f in out["failures"])
