"""Properties over generated input (hypothesis): the prompt format, share links, preset files and
labelled CSVs either come back exactly or are refused with the library's own error, never anything
else. Each test states the property it checks; runs are kept small so the suite stays fast."""

import base64
import csv
import io
import json
import zlib

import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fewshot import presets
from fewshot.backends import BackendSpec
from fewshot.errors import ConfigError, PromptError
from fewshot.evaluate import read_labelled
from fewshot.prompt import Example, FewShotPrompt, Template, parse

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEMPLATES = [Template(input_prefix="Tweet: ", output_prefix="\nSentiment: ", separator="\n###\n"),
             Template(input_prefix="", output_prefix=" => ", separator="\n"), Template()]
chars = st.characters(blacklist_categories=("Cs",))
text = st.text(chars, max_size=40)


# --- prompts: render and parse ----------------------------------------------------------------------

# Texts built from the templates' own markers and a little else, so many of them parse.
MARKERS = ["Tweet: ", "\nSentiment: ", "\nSentiment:", "\n###\n", "Input: ", "\nOutput: ", "\nOutput:", " => ",
           " =>", "\n", " ", "a", "positive", "#", ":"]
marked_text = st.lists(st.sampled_from(MARKERS) | st.text(chars, max_size=3), max_size=14).map("".join)


@FAST
@given(raw=marked_text, template=st.sampled_from(TEMPLATES))
def test_parse_reads_back_exactly_the_text_it_was_given_or_says_why_not(raw, template):
    """render(parse(text)) == text for every text parse accepts; anything else is a PromptError."""
    try:
        prompt = parse(raw, template)
    except PromptError as exc:
        assert str(exc)
        event("refused")
        return
    event("parsed")
    assert prompt.template == template
    assert prompt.render() == raw


@FAST
@given(task=text, pairs=st.lists(st.tuples(text, text), max_size=4), query=text,
       template=st.sampled_from(TEMPLATES))
def test_any_prompt_renders_to_a_text_that_parses_back_to_the_same_text(task, pairs, query, template):
    """Fields may contain the template's markers (then the split is ambiguous), but parsing a rendered
    prompt never loses or adds text: it is refused, or it renders to the very same text."""
    prompt = FewShotPrompt(task=task, examples=tuple(Example(input=a, output=b) for a, b in pairs), query=query,
                           template=template)
    try:
        again = parse(prompt.render(), template)
    except PromptError:
        event("refused")
        return
    event("parsed")
    assert again.render() == prompt.render()


# --- presets: valid ones come back equal, invalid ones are refused naming the field --------------------


@st.composite
def valid_presets(draw) -> presets.Preset:
    names = draw(st.lists(st.sampled_from(presets.ENDPOINTS), unique=True, max_size=3))
    endpoints = {n: BackendSpec(kind=draw(st.sampled_from(["openai", "tgi", "ollama", "chat"])),
                                url=draw(st.sampled_from(["http://127.0.0.1:8080", "https://router.huggingface.co/v1"])),
                                model=draw(text)) for n in names}
    column = st.builds(
        presets.Column,
        temperature=st.floats(0, 2), max_new_tokens=st.integers(1, 1024),
        end_sequence=st.lists(st.text(chars, min_size=1, max_size=6), max_size=4).map(tuple),
        top_p=st.floats(0, 1, exclude_min=True), top_k=st.integers(0, 1000), repetition_penalty=st.floats(1, 2),
        seed=st.none() | st.integers(0, 2**31 - 1), backend=st.sampled_from(["", *names]),
    )
    return presets.Preset(
        name=draw(st.text(chars, min_size=1, max_size=80)), description=draw(text), task=draw(text),
        examples=tuple(Example(input=a, output=b) for a, b in draw(st.lists(st.tuples(text, text), max_size=4))),
        query=draw(text), template=draw(st.sampled_from(TEMPLATES)),
        columns=tuple(draw(st.lists(column, min_size=1, max_size=presets.MAX_COLUMNS))),
        samples=draw(st.integers(1, presets.MAX_SAMPLES)), endpoints=endpoints,
    )


@FAST
@given(preset=valid_presets())
def test_a_valid_preset_file_loads_equal_to_what_was_saved(preset, tmp_path_factory):
    path = tmp_path_factory.mktemp("p") / "p.json"
    path.write_text(presets.to_json(preset), encoding="utf-8")
    assert presets.load_file(path) == preset


# (how to break a valid preset's JSON, the field the message must name)
BREAKS = [
    (lambda d: {**d, "qeury": "x"}, "unknown field 'qeury'"),
    (lambda d: {**d, "name": ""}, "name"),
    (lambda d: {**d, "samples": presets.MAX_SAMPLES + 1}, "samples"),
    (lambda d: {**d, "columns": []}, "columns"),
    (lambda d: {**d, "columns": [{}] * (presets.MAX_COLUMNS + 1)}, "columns"),
    (lambda d: {**d, "columns": [{"temperature": 2.5}]}, "columns.0.temperature"),
    (lambda d: {**d, "columns": [{"seed": 2**31}]}, "columns.0.seed"),
    (lambda d: {**d, "columns": [{"top_p": 0}]}, "columns.0.top_p"),
    (lambda d: {**d, "columns": [{"end_sequence": ["a", "b", "c", "d", "e"]}]}, "columns.0.end_sequence"),
    (lambda d: {**d, "columns": [{"backend": "C"}], "endpoints": {}}, "endpoint C"),
    (lambda d: {**d, "endpoints": {"D": {"kind": "tgi"}}}, "endpoints.D"),
    (lambda d: {**d, "examples": [{"input": "only an input"}]}, "examples.0.output"),
    (lambda d: {**d, "template": {"output_prefix": ""}}, "template.output_prefix"),
]


@FAST
@given(preset=valid_presets(), broken=st.sampled_from(BREAKS))
def test_an_invalid_preset_is_refused_naming_the_file_and_field(preset, broken):
    make, field = broken
    data = make(json.loads(presets.to_json(preset)))
    try:
        presets.parse_preset(json.dumps(data), source="Preset file x.json")
    except ConfigError as exc:
        assert str(exc).startswith("Preset file x.json") and field in str(exc), str(exc)
    else:
        raise AssertionError(f"accepted a preset broken by {field}")


@FAST
@given(raw=st.text(max_size=200))
def test_preset_text_that_is_not_a_preset_is_refused(raw):
    try:
        preset = presets.parse_preset(raw)
    except ConfigError:
        return
    assert presets.parse_preset(presets.to_json(preset)) == preset  # it was one after all: it survives a save


# --- share links: any value is a state or a ConfigError; a state's own link gives it back --------------


def link_of(data: bytes) -> str:
    return presets.LINK_VERSION + base64.urlsafe_b64encode(zlib.compress(data, 9)).decode().rstrip("=")


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                           max_leaves=8)
preset_like = st.dictionaries(st.sampled_from([*presets.Preset.model_fields, "token", "x"]), json_values, max_size=5)


def decoded_or_refused(value: str) -> presets.Preset | None:
    try:
        state = presets.decode_state(value)
    except ConfigError as exc:
        assert str(exc)
        event("refused")
        return None
    event("opened")
    assert isinstance(state, presets.Preset)
    assert presets.decode_state(presets.encode_state(state)) == state  # what opened can be shared again
    return state


@FAST
@given(value=st.text(max_size=300) | st.text("ABCxyz019-_=.", max_size=300).map(lambda s: "1." + s))
def test_any_link_text_opens_a_state_or_is_refused(value):
    decoded_or_refused(value)


@FAST
@given(data=st.binary(max_size=300) | preset_like.map(lambda d: json.dumps(d).encode()))
def test_any_packed_bytes_open_a_state_or_are_refused(data):
    state = decoded_or_refused(link_of(data))
    if state is not None:  # only a JSON object with valid fields opens
        assert isinstance(json.loads(data), dict)


@FAST
@given(preset=valid_presets())
def test_a_states_own_link_opens_it_exactly(preset):
    assert presets.decode_state(presets.encode_state(preset)) == preset


# --- labelled CSVs: a frame of text,label strings, or a ConfigError ------------------------------------


def check_frame(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == ["text", "label"] and len(frame) >= 1
    assert all(isinstance(v, str) for v in [*frame["text"], *frame["label"]])
    assert all(t.strip() for t in frame["text"])


# Arbitrary bytes, and CSV-looking text under a text,label header (quotes, commas, blank lines...).
csv_like = st.lists(st.lists(st.sampled_from(['"', ",", "\n", "\r", " ", "a", "b", '""', "\t"]) | text, max_size=6)
                    .map("".join), max_size=8).map(lambda lines: ("text,label\n" + "\n".join(lines)).encode())


@FAST
@given(data=st.binary(max_size=300) | csv_like)
def test_any_csv_bytes_give_text_and_label_strings_or_a_config_error(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("csv") / "data.csv"
    path.write_bytes(data)
    try:
        frame = read_labelled(path)
    except ConfigError as exc:
        assert "data.csv" in str(exc)
        event("refused")
        return
    event("read")
    check_frame(frame)


@FAST
@given(rows=st.lists(st.tuples(text, text), min_size=1, max_size=12), extra=st.booleans())
def test_a_written_csv_reads_back_as_its_rows_with_text(rows, extra, tmp_path_factory):
    """Rows written by a CSV writer come back exactly (rows without text are dropped)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "text", "label"] if extra else ["text", "label"])
    writer.writerows([(str(i), t, lab) if extra else (t, lab) for i, (t, lab) in enumerate(rows)])
    path = tmp_path_factory.mktemp("csv") / "rows.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    kept = [(t, lab) for t, lab in rows if t.strip()]
    try:
        frame = read_labelled(path)
    except ConfigError as exc:
        assert not kept and "no rows with text" in str(exc), str(exc)
        return
    check_frame(frame)
    assert list(zip(frame["text"], frame["label"], strict=True)) == kept
