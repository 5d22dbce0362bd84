import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fewshot import presets
from fewshot.errors import ConfigError
from fewshot.prompt import Example, Template, parse


def test_every_builtin_preset_is_valid():
    found, errors = presets.load_folder(presets.BUILTIN_DIR)
    assert errors == []
    assert {"sentiment", "translate-en-fr"} <= set(found)
    assert len(found) >= 5
    for name, preset in found.items():
        preset.prompt.check()
        assert 1 <= len(preset.columns) <= presets.MAX_COLUMNS, name
        assert parse(preset.prompt.render(), preset.template) == preset.prompt, name


def test_blog_presets_keep_the_blog_format():
    sentiment = presets.find("sentiment")
    assert sentiment.prompt.render().endswith("###\nTweet: This new music video was incredible\nSentiment:")
    assert [c.temperature for c in sentiment.columns] == [0.1, 0.5, 0.9]
    translate = presets.find("translate-en-fr").prompt.render()
    assert "sea otter => loutre de mer\n" in translate and translate.endswith("\ncheese =>")


def test_a_broken_file_is_reported_by_name_and_field_and_the_others_still_load(tmp_path):
    (tmp_path / "good.json").write_text(json.dumps({"name": "Good", "query": "q"}))
    (tmp_path / "typo.json").write_text(json.dumps({"name": "Typo", "qeury": "q"}))
    (tmp_path / "range.json").write_text(json.dumps({"name": "R", "columns": [{"temperature": 9}]}))
    (tmp_path / "syntax.json").write_text("{not json")
    found, errors = presets.load_folder(tmp_path)
    assert list(found) == ["good"]
    assert any("range.json" in e and "columns.0.temperature" in e for e in errors)
    assert any("typo.json" in e and "unknown field 'qeury'" in e for e in errors)
    assert any("syntax.json" in e and "not valid JSON" in e for e in errors)


def test_find_by_name_or_path(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(presets.to_json(presets.find("sentiment")))
    assert presets.find(str(path)) == presets.find("sentiment")
    with pytest.raises(ConfigError, match="No preset named 'nope'"):
        presets.find("nope")
    with pytest.raises(ConfigError, match="No preset named"):
        presets.find("../presets/sentiment")


# --- user presets ------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    return presets.Store(tmp_path / "mine")


def test_save_load_rename_delete(store):
    state = presets.find("sentiment").model_copy(update={"query": "So good!"})
    key = store.save("My sentiment", state)
    assert key == "my-sentiment" and (store.folder / "my-sentiment.json").exists()
    found, builtin, errors = store.load()
    assert found["my-sentiment"].query == "So good!" and found["my-sentiment"].name == "My sentiment"
    assert "my-sentiment" not in builtin and "sentiment" in builtin and errors == []
    assert store.rename("my-sentiment", "Tweets, take 2") == "tweets-take-2"
    assert not (store.folder / "my-sentiment.json").exists()
    assert store.load()[0]["tweets-take-2"].name == "Tweets, take 2"
    store.delete("tweets-take-2")
    assert "tweets-take-2" not in store.load()[0]


@pytest.mark.parametrize("name", ["../../etc/passwd", "/tmp/x", "..\\\\..\\\\win", "a/b/c", "~root"])
def test_names_cannot_leave_the_presets_folder(store, name):
    key = store.save(name, presets.find("sentiment"))
    assert (store.folder / f"{key}.json").resolve().parent == store.folder.resolve()
    assert presets.SLUG.fullmatch(key)


def test_built_in_presets_are_read_only(store):
    with pytest.raises(ConfigError, match="built-in preset, which cannot be changed"):
        store.save("Sentiment", presets.find("sentiment"))  # its id
    with pytest.raises(ConfigError, match="built-in preset, which cannot be changed"):
        store.save("Tweet sentiment", presets.find("sentiment"))  # its display name
    with pytest.raises(ConfigError, match="cannot be renamed or deleted"):
        store.delete("sentiment")
    with pytest.raises(ConfigError, match="cannot be renamed or deleted"):
        store.rename("translate-en-fr", "Mine")
    with pytest.raises(ConfigError, match="letters or digits"):
        store.save("???", presets.find("sentiment"))
    with pytest.raises(ConfigError, match="no saved preset"):
        store.delete("never-saved")


def test_a_broken_user_preset_is_reported_and_the_rest_load(store):
    store.save("Good one", presets.find("sentiment"))
    (store.folder / "broken.json").write_text('{"name": "B", "columns": [{"temperature": "hot"}]}')
    found, _, errors = store.load()
    assert "good-one" in found and "broken" not in found
    assert any("broken.json" in e and "columns.0.temperature" in e for e in errors)


def test_user_presets_run_by_name(store, monkeypatch):
    monkeypatch.setenv("FEWSHOT_PRESETS_DIR", str(store.folder))
    store.save("Night shift", presets.find("translate-en-fr"))
    assert presets.find("night-shift").task == presets.find("translate-en-fr").task


# --- share links -----------------------------------------------------------------------------------


def test_a_link_reopens_the_exact_state():
    state = presets.find("passage-qa").model_copy(update={"query": "Who built it? \"quotes\" & ###"})
    assert presets.decode_state(presets.encode_state(state)) == state


def link_of(data: bytes) -> str:
    import base64
    import zlib

    return presets.LINK_VERSION + base64.urlsafe_b64encode(zlib.compress(data, 9)).decode().rstrip("=")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda good: good[:-12], "damaged or incomplete"),  # cut when copied
        (lambda good: good[:20] + ("A" if good[20] != "A" else "B") + good[21:], "damaged|not valid|unknown|must"),
        (lambda good: "2." + good[2:], "does not start with"),
        (lambda good: good + "!!", "damaged"),
        (lambda good: "1." + "A" * (presets.LINK_MAX_CHARS + 10), "too long"),
        (lambda good: link_of(b"{" + b" " * 5_000_000 + b"}"), "unpacks to more than"),  # a zip bomb
        (lambda good: link_of(b"\xff\xfe not utf-8"), "damaged"),
        (lambda good: link_of(b'{"name": "x", "columns": [{"temperature": 9}]}'), "columns.0.temperature"),
        (lambda good: link_of(b"[1, 2, 3]"), "The link's state"),
    ],
)
def test_bad_links_are_refused_with_a_message(make, message):
    good = presets.encode_state(presets.find("sentiment"))
    with pytest.raises(ConfigError, match=message):
        presets.decode_state(make(good))


def test_a_state_too_large_for_a_link_says_what_to_do():
    import random

    rng = random.Random(1)
    noise = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(20_000))
    with pytest.raises(ConfigError, match=r"too large for a link.*Save it as a preset"):
        presets.encode_state(presets.Preset(name="big", task=noise))


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=400)


def packed_length(state: presets.Preset) -> int:
    """Characters the state takes in a link, measured independently: compressed JSON in unpadded base64."""
    import math
    import zlib

    data = json.dumps(state.model_dump(mode="json", exclude_defaults=True), ensure_ascii=False, separators=(",", ":"))
    return math.ceil(len(zlib.compress(data.encode("utf-8"), 9)) * 4 / 3)


@settings(max_examples=80, deadline=None)
@given(
    task=text, query=text, name=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80),
    pairs=st.lists(st.tuples(text, text), max_size=6),
    prefix=text, stops=st.lists(st.text(min_size=1, max_size=8), max_size=4),
    temperature=st.floats(0, 2), seed=st.none() | st.integers(0, 2**31 - 1),
    long=st.integers(0, 6000), noise=st.integers(0, 14_000),
)
def test_state_to_link_to_state_is_the_identity(task, query, name, pairs, prefix, stops, temperature, seed, long,
                                                noise):
    import random

    rng = random.Random(noise)  # text that does not compress: large ones are over the link bound
    state = presets.Preset(
        name=name, task=task + "x" * long + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                                                    for _ in range(noise)),
        query=query,
        examples=tuple(Example(input=a, output=b) for a, b in pairs),
        template=Template(input_prefix=prefix, output_prefix="\n###" + prefix + ":", separator="\n###\n"),
        columns=(presets.Column(temperature=temperature, end_sequence=tuple(stops), seed=seed),),
    )
    fits = len(presets.LINK_VERSION) + packed_length(state) <= presets.LINK_MAX_CHARS
    try:
        link = presets.encode_state(state)
    except ConfigError as exc:
        assert not fits, f"a state of {packed_length(state)} packed characters fits a link, yet was refused"
        assert "too large for a link" in str(exc)
        return
    assert fits and len(link) <= presets.LINK_MAX_CHARS
    assert presets.decode_state(link) == state


def test_names_in_any_script_and_names_too_close_to_another(store):
    assert store.save("日本語のプロンプト", presets.find("sentiment")) == "日本語のプロンプト"
    store.save("My Test", presets.find("sentiment"))
    store.save("my test", presets.find("sentiment"))  # the same name, any case: replaces it
    with pytest.raises(ConfigError, match="name too close"):
        store.save("my-test!", presets.find("sentiment"))
    assert store.rename("my-test", "MY TEST") == "my-test"
    assert store.load()[0]["my-test"].name == "MY TEST"
    with pytest.raises(ConfigError, match="Choose one of your saved presets"):
        store.delete(None)
    with pytest.raises(ConfigError, match="Choose one of your saved presets"):
        store.delete("../presets/sentiment")


def test_long_bad_values_are_shortened_in_messages():
    with pytest.raises(ConfigError) as error:
        presets.parse_preset(json.dumps({"name": "x", "columns": [{"end_sequence": "#" * 5000, "top_k": "z" * 500}]}))
    assert len(str(error.value)) < 400 and "..." in str(error.value)


def test_a_broken_built_in_preset_is_skipped_with_a_logged_line_and_the_page_still_has_a_default(tmp_path, caplog):
    import logging
    import shutil

    builtin = tmp_path / "builtin"
    shutil.copytree(presets.BUILTIN_DIR, builtin)
    (builtin / f"{presets.DEFAULT_PRESET}.json").write_text('{"name": "Tweet sentiment", "qeury": "x"}')
    (builtin / "keywords.json").write_text("{not json")
    caplog.set_level(logging.INFO)
    found, ids, errors = presets.Store(tmp_path / "mine", builtin=builtin).load()
    presets.Store(tmp_path / "mine", builtin=builtin).load()  # every page open reads the files again
    assert "translate-en-fr" in found and "keywords" not in found
    default = found[presets.DEFAULT_PRESET]  # what the page opens on: there even when its file is broken
    assert default == presets.FALLBACK and presets.DEFAULT_PRESET in ids
    assert any(f"{presets.DEFAULT_PRESET}.json" in e and "unknown field 'qeury'" in e for e in errors)
    assert any("keywords.json" in e and "not valid JSON" in e for e in errors)
    logged = [r for r in caplog.records if r.name == "fewshot.presets"]
    assert len(logged) == len(errors) == 2  # each once, though read twice
    assert all(any(r.getMessage().startswith(e) for r in logged) for e in errors)
    assert all("\n" not in r.getMessage() and r.exc_info is None for r in logged)
