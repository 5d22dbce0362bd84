"""Calibration maths on fixed distributions, against expectations computed by hand."""

import numpy as np
import pytest

from fewshot import calibrate as cal
from fewshot.errors import ConfigError

# Three rows, two labels (positive, negative); the prompt leans positive.
PROBS = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])


def test_none_only_renormalises():
    assert cal.calibrate("none", [[2.0, 2.0], [3.0, 1.0]]) == pytest.approx(np.array([[0.5, 0.5], [0.75, 0.25]]))


def test_batch_divides_by_the_mean_over_the_rows():
    # mean = (0.6, 0.4); row 2: (0.6/0.6, 0.4/0.4) = (1, 1) -> (0.5, 0.5); row 1: (1.5, 0.25) -> (6/7, 1/7);
    # row 3: (0.5, 1.75) -> (2/9, 7/9).
    out = cal.calibrate("batch", PROBS)
    assert out == pytest.approx(np.array([[6 / 7, 1 / 7], [0.5, 0.5], [2 / 9, 7 / 9]]))
    assert out.sum(axis=1) == pytest.approx(np.ones(3))


def test_contextual_divides_by_the_mean_content_free_distribution():
    # content-free rows (0.8, 0.2) and (0.6, 0.4): prior (0.7, 0.3). Row 2: (0.6/0.7, 0.4/0.3) = (6/7, 4/3)
    # -> negative wins: 4/3 / (6/7 + 4/3) = 28/46.
    content_free = np.array([[0.8, 0.2], [0.6, 0.4]])
    out = cal.calibrate("contextual", PROBS, content_free)
    assert out[1] == pytest.approx([18 / 46, 28 / 46])
    assert cal.predictions(out, ["positive", "negative"]) == ["positive", "negative", "negative"]
    assert cal.predictions(PROBS, ["positive", "negative"]) == ["positive", "positive", "negative"]


def test_domain_uses_the_content_free_rows_like_contextual():
    content_free = np.array([[0.5, 0.5]])
    assert cal.calibrate("domain", PROBS, content_free) == pytest.approx(PROBS)  # a uniform prior changes nothing


def test_unnormalised_content_free_rows_are_normalised_first():
    # (4, 1) and (1, 1) -> (0.8, 0.2) and (0.5, 0.5): prior (0.65, 0.35), not (2.5, 1)/3.5.
    out = cal.calibrate("contextual", [[0.5, 0.5]], np.array([[4.0, 1.0], [1.0, 1.0]]))
    expected = np.array([1 / 0.65, 1 / 0.35])
    assert out[0] == pytest.approx(expected / expected.sum())


def test_three_labels():
    probs = np.array([[0.5, 0.3, 0.2], [0.2, 0.5, 0.3]])
    # mean (0.35, 0.4, 0.25); row 1 / mean = (10/7, 3/4, 4/5)
    row = np.array([0.5 / 0.35, 0.3 / 0.4, 0.2 / 0.25])
    assert cal.calibrate("batch", probs)[0] == pytest.approx(row / row.sum())


def test_errors_name_the_problem():
    with pytest.raises(ConfigError, match="needs the label distributions of content-free inputs"):
        cal.calibrate("contextual", PROBS)
    with pytest.raises(ConfigError, match="Unknown calibration 'platt'"):
        cal.check_methods(["none", "platt"])
    with pytest.raises(ConfigError, match="needs texts with words"):
        cal.domain_inputs(["", " "])


def test_domain_inputs_are_seeded_in_domain_words_of_average_length():
    texts = ["the film was great fun", "a dull and long film", "great acting"]  # 5 + 5 + 2 words: mean 4
    inputs = cal.domain_inputs(texts, n=20, seed=3)
    vocabulary = {w for t in texts for w in t.split()}
    assert len(inputs) == 20 and all(len(i.split()) == 4 and set(i.split()) <= vocabulary for i in inputs)
    assert inputs == cal.domain_inputs(texts, n=20, seed=3)
    assert inputs != cal.domain_inputs(texts, n=20, seed=4)


def test_the_paper_content_free_inputs():
    assert cal.CONTENT_FREE == ("N/A", "", "[MASK]")
    assert cal.needs_content_free("contextual") and cal.needs_content_free("domain")
    assert not cal.needs_content_free("batch") and not cal.needs_content_free("none")
