import pytest

from fewshot.errors import ConfigError
from fewshot.settings import (
    GenerationSettings,
    bounds,
    describe,
    format_stops,
    make_settings,
    parse_stops,
    unescape,
)


def test_defaults_are_valid_and_frozen():
    s = GenerationSettings()
    assert s.end_sequence == ("###",)
    with pytest.raises(ValueError):
        s.temperature = 1.0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"temperature": 3}, "temperature must be less than or equal to 2"),
        ({"max_new_tokens": 0}, "max_new_tokens must be greater than or equal to 1"),
        ({"top_p": 0}, "top_p must be greater than 0"),
        ({"end_sequence": ["a", "b", "c", "d", "e"]}, "end_sequence"),
        ({"temprature": 0.5}, "unknown field 'temprature'"),
        ({"seed": -1}, "seed must be greater than or equal to 0"),
    ],
)
def test_out_of_range_values_give_one_readable_message(values, message):
    with pytest.raises(ConfigError, match=message):
        make_settings(**values)


def test_end_sequence_accepts_a_string_and_drops_empty_strings():
    assert make_settings(end_sequence="###").end_sequence == ("###",)
    assert make_settings(end_sequence=["", "\n"]).end_sequence == ("\n",)


def test_bounds_and_help_come_from_the_model():
    assert bounds("temperature") == (0.0, 2.0)
    assert bounds("top_p") == (0.0, 1.0)
    assert bounds("max_new_tokens") == (1, 1024)
    assert "greedy" in describe("temperature")


@pytest.mark.parametrize(
    ("text", "stops"),
    [("###", ("###",)), ("###|\\n", ("###", "\n")), ("a\\|b|c", ("a|b", "c")), ("", ()), ("\\\\n", ("\\n",))],
)
def test_stop_strings_round_trip_through_text(text, stops):
    assert parse_stops(text) == stops
    assert parse_stops(format_stops(stops)) == stops


def test_unescape_leaves_unknown_escapes_alone():
    assert unescape("a\\nb\\x") == "a\nb\\x"


def test_label_names_what_differs():
    base = GenerationSettings()
    assert GenerationSettings(temperature=0.9, seed=3).label(base) == "temp=0.9, seed=3"
    assert base.label(base) == "temp=0.5"
    assert GenerationSettings(max_new_tokens=8, end_sequence="\n").label() == "temp=0.5, max=8, stop=\\n"
