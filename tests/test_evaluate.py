"""Evaluation: splits, draws, the grid and its tables, label matching; on fixed scores and on the real model."""

import math
import threading

import numpy as np
import pandas as pd
import pytest

from fewshot import evaluate
from fewshot.backends.base import Completion
from fewshot.errors import ConfigError
from fewshot.prompt import Example, FewShotPrompt, Template
from tests.conftest import DATA, ROOT

TINY = ROOT / "tests" / "data" / "tiny_sentiment.csv"
REVIEWS = Template(input_prefix="Review: ", output_prefix="\nSentiment: ", separator="\n###\n")
TASK = "Classify the sentiment of each movie review as positive or negative."


@pytest.mark.parametrize(
    ("text", "label"),
    [
        (" positive\n", "positive"), ("\n\n Negative \nTweet: x", "negative"), ("", "(empty)"),
        ("x" * 50, "x" * 40 + "…"),
    ],
)
def test_label_of_takes_the_first_line(text, label):
    assert evaluate.label_of(text) == label


def test_distribution_counts_answers_most_frequent_first():
    assert evaluate.distribution([" negative", "positive", " Negative\n###"]) == [("negative", 2), ("positive", 1)]
    table = evaluate.distribution_table([("a", ["x", "x"]), ("b", ["y"])])
    assert table.to_dict("records") == [
        {"group": "a", "answer": "x", "count": 2}, {"group": "b", "answer": "y", "count": 1}
    ]


def test_read_labelled_checks_the_columns(tmp_path):
    assert list(evaluate.read_labelled(TINY)["label"][:2]) == ["positive", "negative"]
    assert len(evaluate.read_labelled(TINY, limit=3)) == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,label\nhello,positive\n")
    with pytest.raises(ConfigError, match=r"bad\.csv needs the columns text,label \(missing: text; it has: sentence"):
        evaluate.read_labelled(bad)
    with pytest.raises(ConfigError, match=r"Cannot read missing\.csv"):
        evaluate.read_labelled(tmp_path / "missing.csv")


class TableScorer:
    """Log-probabilities from a table keyed by (query, label): the arithmetic without a model."""

    def __init__(self, table):
        self.table = table

    def score_many(self, pairs):
        return [self.table[(prompt.split("Review: ")[-1].split("\n")[0], label.strip())] for prompt, label in pairs]


def test_batch_calibration_divides_out_the_mean_distribution():
    rows = pd.DataFrame({"text": ["good", "meh"], "label": ["positive", " Negative"]})
    lp = math.log
    scorer = TableScorer({
        ("good", "positive"): lp(0.9), ("good", "negative"): lp(0.1),
        ("meh", "positive"): lp(0.6), ("meh", "negative"): lp(0.4),
    })
    prompt = FewShotPrompt(task=TASK, template=REVIEWS)
    result = evaluate.evaluate(scorer, prompt, rows, ["positive", "negative"], calibrate=True)
    assert result.gold == ["positive", "negative"]  # " Negative" normalised to the candidate's spelling
    assert result.predicted == ["positive", "positive"] and result.accuracy == 0.5
    # prior (0.75, 0.25); meh: 0.6/0.75 = 0.8 < 0.4/0.25 = 1.6, so calibration flips it to negative.
    assert result.calibrated == ["positive", "negative"] and result.calibrated_accuracy == 1.0
    assert result.bias == pytest.approx({"positive": 0.75, "negative": 0.25})
    assert result.confusion().loc["negative", "positive"] == 1


def test_contextual_calibration_averages_the_three_content_free_inputs():
    rows = pd.DataFrame({"text": ["meh"], "label": ["negative"]})
    lp = math.log
    scorer = TableScorer({
        ("meh", "positive"): lp(0.55), ("meh", "negative"): lp(0.45),
        ("N/A", "positive"): lp(0.9), ("N/A", "negative"): lp(0.1),
        ("", "positive"): lp(0.5), ("", "negative"): lp(0.5),
        ("[MASK]", "positive"): lp(0.4), ("[MASK]", "negative"): lp(0.6),
    })
    result = evaluate.evaluate(scorer, FewShotPrompt(task=TASK, template=REVIEWS), rows, ["positive", "negative"],
                               method="contextual")
    assert result.bias == pytest.approx({"positive": 0.6, "negative": 0.4})  # (0.9 + 0.5 + 0.4) / 3
    assert result.predicted == ["positive"]
    assert result.calibrated == ["negative"]  # 0.55/0.6 = 0.92 < 0.45/0.4 = 1.13


def test_a_gold_label_that_is_not_a_candidate_is_named():
    rows = pd.DataFrame({"text": ["a", "b"], "label": ["positive", "mixed"]})
    with pytest.raises(ConfigError, match="The label 'mixed' in the evaluation rows is not among the candidates "
                                          r"\(positive, negative\)"):
        evaluate.evaluate(TableScorer({}), FewShotPrompt(template=REVIEWS), rows, ["positive", "negative"])
    assert evaluate.normalise_labels([" POSITIVE", "negative "], ["positive", "Negative"]) == ["positive", "Negative"]


@pytest.mark.parametrize(("gold", "expected"), [
    (["b", "a", "b", "a"], ("a", 0.5)), (["x", "y", "y"], ("y", 2 / 3)), (["n"], ("n", 1.0)),
])
def test_majority_baseline(gold, expected):
    label, share = evaluate.majority_baseline(gold)
    assert (label, share) == (expected[0], pytest.approx(expected[1]))


FRAME = pd.DataFrame({"text": [f"t{i}" for i in range(20)], "label": ["positive"] * 14 + ["negative"] * 6})


def test_split_is_seeded_and_disjoint():
    pool, rows = evaluate.split(FRAME, 0.25, seed=1)
    assert (len(pool), len(rows)) == (5, 15)
    assert not set(pool["text"]) & set(rows["text"]) and set(pool["text"]) | set(rows["text"]) == set(FRAME["text"])
    again, _ = evaluate.split(FRAME, 0.25, seed=1)
    other, _ = evaluate.split(FRAME, 0.25, seed=2)
    assert list(again["text"]) == list(pool["text"]) and list(other["text"]) != list(pool["text"])
    with pytest.raises(ConfigError, match="between 0 and 1"):
        evaluate.split(FRAME, 1.0)


def test_draws_are_seeded_nested_and_optionally_balanced():
    four, eight = evaluate.draw(FRAME, 4, seed=3), evaluate.draw(FRAME, 8, seed=3)
    assert list(eight["text"][:4]) == list(four["text"]) and len(set(eight["text"])) == 8
    assert list(evaluate.draw(FRAME, 4, seed=4)["text"]) != list(four["text"])
    balanced = evaluate.draw(FRAME, 4, seed=3, balanced=True)
    assert sorted(balanced["label"]) == ["negative", "negative", "positive", "positive"]
    # 14 positive, 6 negative: 16 balanced shots take all 6 negatives and 10 positives.
    assert (evaluate.draw(FRAME, 16, seed=0, balanced=True)["label"] == "negative").sum() == 6
    with pytest.raises(ConfigError, match="The example pool has 20 rows; 21 shots need at least 21"):
        evaluate.draw(FRAME, 21)


@pytest.mark.parametrize(("text", "label"), [
    (" positive\n###", "positive"), ("Positive.", "positive"), ("  NEGATIVE sentiment", "negative"),
    ("\n\nvery positive", "very positive"), ("neg", None), ("I think positive", None), ("", None),
])
def test_a_completion_maps_to_a_candidate_exactly_then_by_prefix(text, label):
    assert evaluate.match_label(text, ["positive", "negative", "very positive"]) == label


class DemoScorer:
    """Right on every row when the prompt shows a negative example, else always "positive";
    records the queries it scores."""

    name = "demo"

    def __init__(self):
        self.queries = []

    def score_many(self, pairs):
        out = []
        for prompt, label in pairs:
            query = prompt.split("Review: ")[-1].split("\n")[0]
            self.queries.append(query)
            truth = "negative" if query.startswith("n") else "positive"
            informed = "\nSentiment: negative" in prompt
            out.append(math.log(0.8 if label.strip() == (truth if informed else "positive") else 0.2))
        return out

    def generate_many(self, rows, cancel=None):
        for i, (prompt, _) in enumerate(rows):
            yield i, Completion(" Positive!\n" if prompt.query.startswith("p") else "no idea", "end_sequence")


POOL = pd.DataFrame({"text": ["pa", "pb", "na", "nb"], "label": ["positive", "positive", "negative", "negative"]})
ROWS = pd.DataFrame({"text": ["p1", "p2", "p3", "n1"], "label": ["positive", "positive", "positive", "negative"]})


def test_the_grid_reports_mean_and_spread_over_draws():
    result = evaluate.run_grid(DemoScorer(), FewShotPrompt(template=REVIEWS), POOL, ROWS, ["positive", "negative"],
                               shots=[0, 1], calibrate=["none"], draws=4)
    # One shot: a draw showing a negative example scores 1.0, one showing a positive 0.75 (always positive).
    expected = [1.0 if evaluate.draw(POOL, 1, seed=d)["label"][0] == "negative" else 0.75 for d in range(4)]
    assert 1.0 in expected and 0.75 in expected  # the seeds give both kinds, so the spread is not zero
    one = result.cell(1)
    assert one.accuracies == pytest.approx(expected) and one.draws == 4 and one.n == 4
    assert one.accuracy == pytest.approx(np.mean(expected)) and one.accuracy_std == pytest.approx(np.std(expected,
                                                                                                        ddof=1))
    zero = result.cell(0)
    assert (zero.accuracy, zero.accuracy_std, zero.draws) == (0.75, 0.0, 1)  # zero shots: one draw is all there is
    assert zero.per_label == {"positive": {"precision": 0.75, "recall": 1.0}, "negative": {"precision": 0.0,
                                                                                           "recall": 0.0}}
    assert zero.confusion == {"positive": {"positive": 3, "negative": 0}, "negative": {"positive": 1, "negative": 0}}
    assert [(f.input, f.expected, f.got) for f in zero.failures] == [("n1", "negative", "positive")]
    assert zero.failures[0].probability == pytest.approx(0.8)
    assert result.majority == ("positive", 0.75)


def test_a_demonstration_is_never_scored():
    scorer = DemoScorer()
    both = pd.concat([POOL, ROWS], ignore_index=True)  # the same CSV as pool and rows
    result = evaluate.run_grid(scorer, FewShotPrompt(template=REVIEWS), both, both, shots=[2], calibrate=["none"],
                               draws=3)
    for d in range(3):
        shown = set(evaluate.draw(both, 2, seed=d)["text"])
        scored = scorer.queries[d * 2 * 6 : (d + 1) * 2 * 6]
        assert shown and not shown & set(scored) and len(set(scored)) == 6
    assert result.cell(2).n == 6


def test_calibration_methods_and_generation_side_by_side():
    result = evaluate.run_grid(DemoScorer(), FewShotPrompt(template=REVIEWS), POOL, ROWS,
                               shots=[0], calibrate=["none", "contextual", "batch", "domain"],
                               scoring=["labels", "generate"])
    assert [(c.calibrate, c.scoring) for c in result.cells] == [
        ("none", "labels"), ("contextual", "labels"), ("batch", "labels"), ("domain", "labels"),
        ("none", "generate")]  # generation gives no probabilities to calibrate
    gen = result.cell(0, "none", "generate")
    assert gen.accuracy == 0.75 and gen.failures[0].got == evaluate.NO_LABEL and gen.failures[0].probability is None
    assert gen.confusion["negative"][evaluate.NO_LABEL] == 1
    frame = result.frame()
    assert list(frame.columns[:7]) == ["shots", "calibrate", "scoring", "accuracy", "accuracy_std", "n", "draws"]
    assert "recall[negative]" in frame and (frame["majority"] == 0.75).all()
    assert len(result.failures_frame()) == sum(len(c.failures) for c in result.cells)


def test_progress_counts_every_query_and_stop_keeps_the_finished_cells():
    seen = []
    evaluate.run_grid(DemoScorer(), FewShotPrompt(template=REVIEWS), POOL, ROWS, shots=[0, 1], calibrate=["none"],
                      draws=2, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (12, 12)  # (1 + 2 draws) × 4 rows
    stop = threading.Event()

    def halt(done, total):
        if done >= 4:  # after the zero-shot draw
            stop.set()

    result = evaluate.run_grid(DemoScorer(), FewShotPrompt(template=REVIEWS), POOL, ROWS, shots=[0, 1],
                               calibrate=["none"], draws=2, progress=halt, stop=stop)
    assert result.stopped and [(c.shots, c.draws) for c in result.cells] == [(0, 1)]


def test_a_backend_without_scoring_is_refused_before_any_work():
    class Generator:
        name = "chat"

    from fewshot.backends.base import CannotScore

    with pytest.raises(CannotScore, match="use scoring by generation"):
        evaluate.run_grid(Generator(), FewShotPrompt(template=REVIEWS), POOL, ROWS, shots=[0])


# --- on the real model -------------------------------------------------------------------------------

POSITIVE_ONLY = tuple(Example(input=t, output="positive") for t in ("Loved it.", "Great fun.", "A masterpiece.",
                                                                     "So good."))


def test_calibration_fixes_a_prompt_whose_examples_are_all_positive(local_backend):
    rows = evaluate.read_labelled(TINY)
    prompt = FewShotPrompt(task=TASK, template=REVIEWS, examples=POSITIVE_ONLY)
    result = evaluate.evaluate(local_backend, prompt, rows, ["positive", "negative"], method="batch")
    # Measured: raw 0.75 (6 of 8 answered positive, two negatives missed), batch-calibrated 0.875.
    assert result.accuracy <= 0.75 and result.predicted.count("positive") >= 6  # the prompt drags answers positive
    assert result.calibrated_accuracy >= 0.875 and result.calibrated_accuracy > result.accuracy
    assert result.calibrated.count("negative") > result.predicted.count("negative")


@pytest.mark.skipif(not (DATA / "sst2_dev.csv").exists(), reason="../shared/data is not present")
def test_zero_shot_sst2_dev_accuracy_is_well_above_the_majority(local_backend):
    """A broken scoring path (wrong positions, wrong label tokens) lands near or below chance."""
    rows = evaluate.read_labelled(DATA / "sst2_dev.csv", limit=48)
    result = evaluate.evaluate(local_backend, FewShotPrompt(task=TASK, template=REVIEWS), rows)
    _, majority = evaluate.majority_baseline(result.gold)
    assert result.accuracy >= majority + 0.1 and result.calibrated_accuracy >= majority + 0.1
