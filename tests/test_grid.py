import pytest

from fewshot import grid, presets
from fewshot.errors import ConfigError, PromptError
from fewshot.settings import GenerationSettings

BASE = GenerationSettings(temperature=0.5, max_new_tokens=8)


def test_expand_forms_the_cross_product():
    cells = grid.expand(BASE, {"temperature": [0.1, 0.9], "max_new_tokens": [4, 8, 16]})
    assert len(cells) == 6
    assert {(c.settings.temperature, c.settings.max_new_tokens) for c in cells} == {
        (t, m) for t in (0.1, 0.9) for m in (4, 8, 16)
    }


def test_expand_without_axes_is_the_base():
    assert grid.expand(BASE) == [grid.Cell(BASE)]


def test_samples_of_a_fixed_seed_get_consecutive_seeds():
    cells = grid.expand(BASE.model_copy(update={"seed": 7}), {}, samples=3)
    assert [c.settings.seed for c in cells] == [7, 8, 9]
    assert [c.sample for c in cells] == [0, 1, 2]
    assert [c.settings.seed for c in grid.expand(BASE, {}, samples=2)] == [None, None]


def test_bad_axes_are_refused():
    with pytest.raises(ConfigError, match="Unknown setting 'temp'"):
        grid.expand(BASE, {"temp": [1]})
    with pytest.raises(ConfigError, match="temperature must be less than or equal to 2"):
        grid.expand(BASE, {"temperature": [0.5, 7]})
    with pytest.raises(ConfigError, match="shots must be 0 or more"):
        grid.expand(BASE, {"shots": [-1]})
    with pytest.raises(ConfigError, match="limit is 64"):
        grid.expand(BASE, {"seed": list(range(65))})


def test_rows_render_one_prompt_per_shots_value():
    prompt = presets.find("sentiment").prompt
    cells = grid.expand(BASE, {"shots": [0, 2, None]})
    rows = grid.rows(prompt, cells)
    assert rows[0][0].render() == prompt.with_shots(0).render()
    assert rows[1][0].render() == prompt.with_shots(2).render()
    assert rows[2][0] == prompt


def test_rows_refuse_an_empty_query_and_raw_text_shots():
    prompt = presets.find("sentiment").prompt
    with pytest.raises(PromptError, match="query is empty"):
        grid.rows(prompt.model_copy(update={"query": ""}), [grid.Cell(BASE)])
    with pytest.raises(PromptError, match="prompt is empty"):
        grid.rows("  ", [grid.Cell(BASE)])
    with pytest.raises(ConfigError, match="structured prompt"):
        grid.rows("raw text", [grid.Cell(BASE, shots=1)])


def test_sample_seeds_never_pass_the_largest_seed_every_backend_takes():
    top = GenerationSettings.model_fields["seed"].metadata[-1].le  # the settings' own bound: 2**31 - 1
    cells = grid.expand(BASE.model_copy(update={"seed": top - 1}), {"temperature": [0.1, 0.9]}, samples=4)
    seeds = [c.settings.seed for c in cells]
    assert seeds == [top - 1, top, 0, 1] * 2  # wrapped round, still distinct within a combination
    for c in cells:  # each cell's settings pass validation as they are sent (model_copy does not check)
        assert GenerationSettings.model_validate(c.settings.model_dump()) == c.settings
