import json

import pytest

from fewshot import presets
from fewshot.errors import ConfigError
from fewshot.prompt import parse


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
