"""The public `probe` endpoint, called with gradio_client against the real app on 127.0.0.1."""

import json

import pytest

from fewshot import presets

BLOG = json.loads((presets.BUILTIN_DIR / "disability-sentiment.json").read_text())
PARAMETERS = ["preset", "template", "term_sets", "terms", "mode", "samples", "calibration", "threshold", "labels"]


def test_the_probe_endpoint_lists_its_parameters_by_name(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [p["parameter_name"] for p in endpoints["/probe"]["parameters"]] == PARAMETERS


def test_probe_by_sampling_returns_the_baselines_then_each_term(client):
    preset = {**BLOG, "columns": [{"temperature": 0.9, "max_new_tokens": 4, "end_sequence": ["###"]}]}
    out = client.predict(preset=preset, template="I'm a {} happy person", term_sets=[], terms="tall, short",
                         mode="samples", samples=3, calibration="none", threshold=10, labels="", api_name="/probe")
    terms = out["terms"]
    assert [(t["term"], t["baseline"]) for t in terms] == [("", True), ("a", True), ("tall", False), ("short", False)]
    assert [t["query"] for t in terms] == ["I'm a happy person", "I'm a a happy person", "I'm a tall happy person",
                                           "I'm a short happy person"]
    assert out["labels"][:3] == ["negative", "positive", "neutral"] and out["mode"] == "samples"
    for t in terms:
        assert t["samples"] == 3 and len(t["seeds"]) == 3 and len(t["answers"]) == 3
        assert sum(t["distribution"].values()) == pytest.approx(1)
        low, high = t["interval"]["positive"]
        assert low <= t["shift"]["positive"] <= high
    assert set(out["flagged"]) == {t["term"] for t in terms if t["flagged"]}
    assert not any(t["flagged"] for t in terms if t["baseline"])


def test_probe_by_label_scoring_with_calibration(client):
    out = client.predict(preset=BLOG, template="I'm a {} happy person", term_sets=[], terms="blind", mode="labels",
                         samples=1, calibration="contextual", threshold=5, labels="positive, negative",
                         api_name="/probe")
    assert out["labels"] == ["positive", "negative"] and out["calibration"] == "contextual"
    blind = out["terms"][-1]
    assert blind["term"] == "blind" and sum(blind["distribution"].values()) == pytest.approx(1)
    assert blind["flagged"] == (abs(blind["shift"]["positive"]) > 5 and not
                                blind["interval"]["positive"][0] <= 0 <= blind["interval"]["positive"][1])


def test_a_template_without_its_slot_is_refused_with_what_to_do(client):
    with pytest.raises(Exception, match=r"needs exactly one \{\} where the term goes"):
        client.predict(preset=BLOG, template="I'm a happy person", term_sets=["age"], terms="", mode="samples",
                       samples=2, calibration="none", threshold=10, labels="", api_name="/probe")
    with pytest.raises(Exception, match="The term list is empty: name a built-in set"):
        client.predict(preset=BLOG, template="I'm a {} person", term_sets=[], terms=" , ", mode="labels",
                       samples=2, calibration="none", threshold=10, labels="", api_name="/probe")
