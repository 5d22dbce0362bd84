"""The public API, called with gradio_client against the real app (`python app.py`) on 127.0.0.1."""

import json

import pytest
from gradio_client import Client, handle_file

from fewshot import presets
from tests.conftest import ROOT

SENTIMENT = json.loads((presets.BUILTIN_DIR / "sentiment.json").read_text())
TINY = ROOT / "tests" / "data" / "tiny_sentiment.csv"


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def test_the_api_page_lists_run_and_evaluate_with_their_parameter_names(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert set(endpoints) == {"/run", "/evaluate", "/select"}
    assert [p["parameter_name"] for p in endpoints["/run"]["parameters"]] == ["preset", "query"]
    assert [p["parameter_name"] for p in endpoints["/evaluate"]["parameters"]] == [
        "preset", "csv", "labels", "rows", "calibrate"]


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


def test_evaluate_a_small_csv(client):
    out = client.predict(preset=SENTIMENT, csv=handle_file(str(TINY)), labels="positive, negative", rows=100,
                         calibrate=True, api_name="/evaluate")
    assert out["rows"] == 8 and out["examples"] == 4
    assert (out["majority_label"], out["majority_baseline"]) == ("negative", 0.5)  # 4 and 4: the tie goes to "negative"
    confusion = out["confusion"]
    assert set(confusion) == {"positive", "negative"}
    assert sum(sum(row.values()) for row in confusion.values()) == 8
    assert out["accuracy"] == pytest.approx(sum(confusion[label][label] for label in confusion) / 8)
    assert set(out["bias"]) == {"positive", "negative"} and sum(out["bias"].values()) == pytest.approx(1)
    # Eight plain reviews: the prompt must beat always answering one label.
    assert out["accuracy"] > out["majority_baseline"]
    assert out["calibrated_accuracy"] is not None


def test_evaluate_without_a_file_says_what_to_do(client):
    with pytest.raises(Exception, match="Upload a CSV file with the columns text,label first"):
        client.predict(preset=SENTIMENT, csv=None, labels="", rows=10, calibrate=False, api_name="/evaluate")
