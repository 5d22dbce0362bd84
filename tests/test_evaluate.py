import math

import pandas as pd
import pytest

from fewshot import evaluate
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
    with pytest.raises(ConfigError, match=r"bad\.csv needs the columns text,label \(missing: text\)"):
        evaluate.read_labelled(bad)
    with pytest.raises(ConfigError, match=r"Cannot read missing\.csv"):
        evaluate.read_labelled(tmp_path / "missing.csv")


class TableScorer:
    """Log-probabilities from a table keyed by (query, label): the arithmetic without a model."""

    def __init__(self, table):
        self.table = table

    def score_many(self, pairs):
        return [self.table[(prompt.split("Review: ")[-1].split("\n")[0], label.strip())] for prompt, label in pairs]


def test_calibration_divides_out_the_content_free_bias():
    rows = pd.DataFrame({"text": ["good", "meh"], "label": ["positive", "negative"]})
    lp = math.log
    scorer = TableScorer({
        ("good", "positive"): lp(0.9), ("good", "negative"): lp(0.1),
        ("meh", "positive"): lp(0.6), ("meh", "negative"): lp(0.4),
        ("N/A", "positive"): lp(0.7), ("N/A", "negative"): lp(0.3),
    })
    prompt = FewShotPrompt(task=TASK, template=REVIEWS)
    result = evaluate.evaluate(scorer, prompt, rows, ["positive", "negative"], calibrate=True)
    assert result.predicted == ["positive", "positive"] and result.accuracy == 0.5
    # meh: 0.6/0.7 < 0.4/0.3, so calibration flips it to negative.
    assert result.calibrated == ["positive", "negative"] and result.calibrated_accuracy == 1.0
    assert result.bias == pytest.approx({"positive": 0.7, "negative": 0.3})
    assert result.confusion().loc["negative", "positive"] == 1


def test_evaluation_on_the_model_predicts_the_likeliest_label(local_backend):
    rows = evaluate.read_labelled(TINY)
    prompt = FewShotPrompt(
        task=TASK, template=REVIEWS,
        examples=(Example(input="Loved it.", output="positive"), Example(input="Hated it.", output="negative")),
    )
    result = evaluate.evaluate(local_backend, prompt, rows, ["positive", "negative"], calibrate=False)
    for text, predicted in zip(rows["text"], result.predicted, strict=True):
        scores = local_backend.score(prompt.model_copy(update={"query": text}).render(), [" positive", " negative"])
        assert predicted == ("positive" if scores[0] > scores[1] else "negative")
    assert 0.0 <= result.accuracy <= 1.0


@pytest.mark.skipif(not (DATA / "sst2_dev.csv").exists(), reason="../shared/data is not present")
def test_zero_shot_sst2_dev_accuracy_is_well_above_chance(local_backend):
    """A broken scoring path (wrong positions, wrong label tokens) lands near or below chance."""
    rows = evaluate.read_labelled(DATA / "sst2_dev.csv", limit=100)
    result = evaluate.evaluate(local_backend, FewShotPrompt(task=TASK, template=REVIEWS), rows, calibrate=True)
    assert result.accuracy >= 0.7  # measured 0.79 with SmolLM2-135M
    assert result.calibrated_accuracy is not None
