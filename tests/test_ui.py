"""fewshot/ui without a browser: independent demos, a small public API, messages instead of tracebacks."""

import pytest

from fewshot import presets
from fewshot.ui import build_demo
from fewshot.ui.state import Services


def handler(demo, name: str):
    return next(f for f in demo.fns.values() if f.name == name)


def test_two_demos_are_independent():
    a, b = build_demo(), build_demo()
    assert not set(a.blocks) & set(b.blocks)
    out = handler(a, "load_preset").fn("translate-en-fr")  # a handler of demo a changes demo a's widgets only
    assert out and all(widget._id in a.blocks and widget._id not in b.blocks for widget in out)
    values = [v.get("value") if isinstance(v, dict) else v for v in out.values()]
    assert "cheese" in values
    for name in ("open_link", "run_columns", "run_sweep", "run_evaluation", "stop"):
        assert handler(a, name).fn is not handler(b, name).fn  # each demo's handlers close over its own page


def test_stop_flags_belong_to_their_session_and_demo():
    import threading

    one, other = Services(), Services()
    mine, theirs = threading.Event(), threading.Event()
    one.started("session", mine)
    other.started("session", theirs)
    assert one.stop("session") == 1 and mine.is_set() and not theirs.is_set()
    one.finished("session", mine)
    assert one.stop("session") == 0


def test_only_run_evaluate_probe_and_select_are_public_with_named_parameters():
    endpoints = build_demo().get_api_info()["named_endpoints"]
    assert set(endpoints) == {"/run", "/evaluate", "/probe", "/select"}
    names = {name: [p["parameter_name"] for p in e["parameters"]] for name, e in endpoints.items()}
    assert names == {"/run": ["preset", "query"], "/evaluate": [
        "preset", "csv", "labels", "rows", "calibrate", "shots", "draws", "balanced", "split", "pool", "scoring",
        "seed", "endpoint"],
                     "/probe": ["preset", "template", "term_sets", "terms", "mode", "samples", "calibration",
                                "threshold", "labels"],
                     "/select": ["preset", "pool", "data", "k", "method", "budget", "calibration", "test_split",
                                 "seed", "draws"]}


def test_a_bad_preset_name_is_a_one_line_message_not_a_traceback():
    demo = build_demo(presets.Store())
    with pytest.raises(Exception) as caught:
        handler(demo, "load_preset").fn("does-not-exist")
    assert type(caught.value).__name__ == "Error"  # gradio's Error: shown to the user as a message
    assert "There is no preset 'does-not-exist' here" in str(caught.value)
