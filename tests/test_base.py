"""Stop-string handling and snapshot streaming, on lists of pieces (no model)."""

import threading

import pytest

from fewshot.backends.base import Completion, Final, StopText, completions, generate, sequential_many
from fewshot.errors import BackendUnavailable
from fewshot.settings import GenerationSettings

S = GenerationSettings(end_sequence=("###",))


def run(pieces, settings=S):
    return list(completions(pieces, settings, backend="test", model="m"))


def test_text_is_cut_at_the_end_sequence_and_the_stop_string_is_not_shown():
    snaps = run([" pos", "itive", "\n#", "##", "\nTweet"])
    assert snaps[-1].text == " positive\n"
    assert snaps[-1].finish_reason == "end_sequence"
    assert all("#" not in s.text for s in snaps)


def test_a_partial_stop_is_held_back_then_released():
    snaps = run(["a#", "#b", Final("length")])
    assert [s.text for s in snaps] == ["a", "a##b", "a##b"]
    assert snaps[-1].finish_reason == "length"


def test_stop_spanning_pieces_and_several_stops():
    s = GenerationSettings(end_sequence=("\n\n", "END"))
    assert run(["x", "E", "N", "Dy"], s)[-1].text == "x"
    assert run(["x\n", "\nmore"], s)[-1].text == "x"


def test_final_reason_and_token_counts():
    last = run(["a", "b", Final("end_of_text", prompt_tokens=7, completion_tokens=2)])[-1]
    assert (last.text, last.finish_reason, last.prompt_tokens, last.completion_tokens) == ("ab", "end_of_text", 7, 2)


def test_a_stream_without_final_is_reported_as_cut():
    last = run(["partial"])[-1]
    assert last.finish_reason == "error" and last.text == "partial" and "ended early" in last.error


def test_a_backend_error_mid_stream_keeps_the_text():
    def pieces():
        yield "kept"
        raise BackendUnavailable("connection lost")

    last = run(pieces())[-1]
    assert (last.text, last.finish_reason, last.error) == ("kept", "error", "connection lost")


def test_stopping_closes_the_backend_stream():
    closed = threading.Event()

    def pieces():
        try:
            yield "a###"
            yield "never"
        finally:
            closed.set()

    assert run(pieces())[-1].text == "a"
    assert closed.is_set()


@pytest.mark.parametrize(("pieces", "visible"), [(["abc"], "abc"), (["abc#", "#"], "abc"), (["abc\n"], "abc")])
def test_visible_text_holds_back_a_possible_stop(pieces, visible):
    text = StopText(["###", "\n\n"])
    for p in pieces:
        assert not text.add(p)
    assert text.visible == visible


class ListBackend:
    name, model = "list", "m"

    def __init__(self, outputs):
        self.outputs = outputs

    def stream(self, prompt, settings):
        return completions([*self.outputs[prompt], Final("length")], settings, backend=self.name, model=self.model)


def test_generate_returns_the_last_snapshot():
    c = generate(ListBackend({"p": ["a", "b"]}), "p", S)
    assert isinstance(c, Completion) and c.done and c.text == "ab"


def test_sequential_many_streams_every_row_and_stops_on_cancel():
    b = ListBackend({"p": ["a", "b"], "q": ["c"]})
    finals = {i: c for i, c in sequential_many(b, [("p", S), ("q", S)]) if c.done}
    assert finals[0].text == "ab" and finals[1].text == "c"
    cancel = threading.Event()
    cancel.set()
    finals = {i: c for i, c in sequential_many(b, [("p", S), ("q", S)], cancel) if c.done}
    assert finals[0].finish_reason == "cancelled" and finals[1].finish_reason == "cancelled"
