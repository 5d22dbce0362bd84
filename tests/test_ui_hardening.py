"""Issue 13's UI items that need no browser, on a real demo built in-process (handlers called as Gradio
calls them, with a dict of values): Stop and session bookkeeping, "Add as example" on empty cells,
refusals logged as one line, toasts and exported code without server paths, escaped messages."""

import logging
import re
import threading

import pytest

from fewshot import presets
from fewshot.errors import ConfigError
from fewshot.ui import build_demo
from fewshot.ui.errors import shows_errors
from fewshot.ui.state import Services


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_demo(presets.Store(tmp_path_factory.mktemp("presets") / "secret-server-folder"))


def handler(demo, elem_id: str, event: str = "click"):
    """The function and inputs of the event `event` on the component with `elem_id`."""
    for fn in demo.fns.values():
        for target, name in fn.targets:
            if name == event and target is not None and demo.blocks[target].elem_id == elem_id:
                return fn.fn, fn.inputs
    raise LookupError(f"no {event} on #{elem_id}")


def values_of(demo, inputs, **by_elem_id) -> dict:
    """Every input at its value on the page as built, some replaced (by elem_id)."""
    values = {}
    for block in inputs:
        values[block] = by_elem_id.get(block.elem_id, block.value) if block.elem_id in by_elem_id else block.value
    return values


def test_stop_while_runs_finish_never_breaks_and_sessions_leave_nothing_behind():
    services, errors = Services(presets.Store()), []
    done = threading.Event()

    def runs(session: str):
        for _ in range(300):
            flag = threading.Event()
            services.started(session, flag)
            services.finished(session, flag)

    def stopper():
        while not done.is_set():
            try:
                services.stop("s0")
            except RuntimeError as exc:  # "Set changed size during iteration"
                errors.append(exc)

    threads = [threading.Thread(target=runs, args=(f"s{i % 2}",)) for i in range(4)]
    stop_thread = threading.Thread(target=stopper)
    stop_thread.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    stop_thread.join()
    assert not errors
    for i in range(1000):  # a thousand API sessions, each one run: nothing kept once they finished
        flag = threading.Event()
        services.started(f"api-{i}", flag)
        services.finished(f"api-{i}", flag)
    assert services.sessions() == 0


def test_a_closed_page_stops_its_runs_and_is_forgotten(demo):
    services = Services(presets.Store())
    mine, other = threading.Event(), threading.Event()
    services.started("closed", mine)
    services.started("open", other)
    assert services.ended("closed") == 1
    assert mine.is_set() and not other.is_set()
    assert services.sessions() == 1 and services.stop("closed") == 0
    # The page closing is what calls it: the demo listens for "unload".
    assert any(name == "unload" for fn in demo.fns.values() for _, name in fn.targets)


def test_add_as_example_with_empty_cells_never_writes_none(demo, capsys):
    fn, inputs = handler(demo, "c0-add")
    values = values_of(demo, inputs, query="great film", examples=[["good", "positive"], [None, None],
                                                                   ["fine", None]])
    values[next(b for b in inputs if b.elem_id == "c0-text")] = " positive "
    rows = fn(values)
    assert rows == [["good", "positive"], ["fine", ""], ["great film", "positive"]]
    assert "None" not in repr(rows)


def test_a_refusal_is_one_escaped_line_in_the_log_and_no_traceback(caplog):
    @shows_errors
    def refuse():
        raise ConfigError("There is no preset '<img src=x onerror=alert(1)>'\nhere.")

    caplog.set_level(logging.INFO, logger="fewshot")
    with pytest.raises(Exception) as refused:  # gr.Error: tests do not import gradio
        refuse()
    assert type(refused.value).__name__ == "Error"
    assert refused.value.print_exception is False  # Gradio prints a traceback for every other gr.Error
    assert refused.value.message == "There is no preset '&lt;img src=x onerror=alert(1)&gt;' here."
    lines = [r for r in caplog.records if r.name.startswith("fewshot")]
    assert len(lines) == 1 and lines[0].exc_info is None and "\n" not in lines[0].getMessage()


def test_saving_a_preset_says_so_without_the_server_folder(demo, capsys):
    fn, inputs = handler(demo, "save")
    fn(values_of(demo, inputs, **{"preset-name": "Mine <b>x</b>"}))
    said = capsys.readouterr().out  # gr.Info outside a request prints its message
    assert "Saved “Mine &lt;b&gt;x&lt;/b&gt;”" in said
    assert "secret-server-folder" not in said and "/" not in said.replace("&lt;/b", "")


def test_exported_code_names_the_embedded_model_and_how_to_get_it_not_its_path(demo):
    from fewshot.backends.local import INSTALL_HINT, default_model_path

    fn, inputs = handler(demo, "get-code")
    python, curl = fn(values_of(demo, inputs))
    code = python["value"] + curl["value"]
    assert str(default_model_path().parent) not in code
    assert "SmolLM2-135M-Instruct.Q4_1.gguf" in code and INSTALL_HINT in code


def test_a_preset_name_too_long_is_refused_naming_the_field(demo):
    fn, inputs = handler(demo, "save")
    with pytest.raises(Exception) as refused:  # gr.Error, not a ValidationError's traceback
        fn(values_of(demo, inputs, **{"preset-name": "x" * 81}))
    assert type(refused.value).__name__ == "Error"
    assert "name string should have at most 80 characters" in refused.value.message.lower()


def test_the_page_lists_broken_presets_as_text_without_the_server_folder(tmp_path):
    folder = tmp_path / "secret-server-folder"
    folder.mkdir()
    (folder / "sentiment.json").write_text((presets.BUILTIN_DIR / "sentiment.json").read_text())  # a built-in's name
    (folder / "<img src=x onerror=alert(1)>.json").write_text("{not json")
    notice = next(b for b in build_demo(presets.Store(folder)).blocks.values() if b.elem_id == "preset-errors")
    assert r"sentiment\.json in the saved presets" in notice.value and "secret-server-folder" not in notice.value
    assert not re.search(r"(?<!\\)<", notice.value)  # every < escaped
    assert r"\<img src\=x onerror\=alert\(1\)\>" in notice.value


def test_an_unreadable_feedback_log_is_refused_without_its_path(demo, tmp_path, monkeypatch):
    flags = tmp_path / "secret-flag-folder"
    (flags / "feedback.jsonl").mkdir(parents=True)  # unreadable as a file
    monkeypatch.setenv("FEWSHOT_FLAG_DIR", str(flags))
    fn, _ = handler(demo, "feedback-refresh")
    with pytest.raises(Exception) as refused:
        fn()
    assert refused.value.message.startswith("Could not read the feedback log: ")
    assert "secret-flag-folder" not in refused.value.message
