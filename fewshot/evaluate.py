"""Label distributions of sampled completions, and evaluation of a prompt on a labelled CSV.

Evaluation scores every label as a continuation of the prompt (its log-probability on the
embedded model) instead of sampling: the prediction is the likeliest label. Calibration follows
"Calibrate Before Use" (Zhao et al., 2021): the label probabilities for a content-free query
("N/A") measure the prompt's own bias, and every prediction is divided by them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ConfigError
from .prompt import FewShotPrompt

CONTENT_FREE = "N/A"
MAX_ROWS = 2000


def label_of(text: str) -> str:
    """The answer in a completion, for counting: its first non-empty line, trimmed, lower case."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return (line[:40] + "…" if len(line) > 40 else line).lower() or "(empty)"


def distribution(texts: Sequence[str]) -> list[tuple[str, int]]:
    """(label, count), most frequent first."""
    return Counter(label_of(t) for t in texts).most_common()


def parse_labels(text: str | None) -> list[str] | None:
    """`positive, negative` -> ["positive", "negative"]; None when none are given (use the file's)."""
    return [s.strip() for s in (text or "").split(",") if s.strip()] or None


def read_labelled(path: str | Path, limit: int | None = None) -> pd.DataFrame:
    """A CSV with columns text,label; errors name the file and what is wrong."""
    name = Path(path).name
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=min(limit or MAX_ROWS, MAX_ROWS))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read {name}: {exc}") from None
    missing = {"text", "label"} - set(frame.columns)
    if missing:
        raise ConfigError(f"{name} needs the columns text,label (missing: {', '.join(sorted(missing))}).")
    frame = frame[["text", "label"]]
    frame = frame[frame["text"].str.strip() != ""]
    if frame.empty:
        raise ConfigError(f"{name} has no rows with text.")
    return frame.reset_index(drop=True)


@dataclass
class Evaluation:
    labels: list[str]
    gold: list[str]
    predicted: list[str]
    calibrated: list[str] | None = None
    bias: dict[str, float] = field(default_factory=dict)  # label probabilities for the content-free query

    @property
    def accuracy(self) -> float:
        return _accuracy(self.gold, self.predicted)

    @property
    def calibrated_accuracy(self) -> float | None:
        return None if self.calibrated is None else _accuracy(self.gold, self.calibrated)

    def confusion(self, calibrated: bool = False) -> pd.DataFrame:
        """Rows: the true label; columns: the predicted one."""
        predicted = self.calibrated if calibrated and self.calibrated is not None else self.predicted
        table = pd.crosstab(pd.Series(self.gold, name="true"), pd.Series(predicted, name="predicted"))
        return table.reindex(index=self.labels, columns=self.labels, fill_value=0)


def evaluate(
    scorer,
    prompt: FewShotPrompt,
    rows: pd.DataFrame,
    labels: Sequence[str] | None = None,
    calibrate: bool = True,
    batch: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Predict every row's label by scoring each label after the prompt with the row as query.

    `scorer` has `score_many([(prompt text, continuation)]) -> log-probabilities` (the embedded
    backend). One query at a time suits the engine best: the query is evaluated once in its
    cached prefix and one-token labels are read straight from the stored logits.
    """
    labels = list(labels or sorted(rows["label"].unique()))
    if len(labels) < 2:
        raise ConfigError("Evaluation needs at least two labels.")
    queries = [*rows["text"], CONTENT_FREE] if calibrate else list(rows["text"])
    probabilities = label_probabilities(scorer, prompt, queries, labels, batch=batch, progress=progress).tolist()
    result = Evaluation(labels, list(rows["label"]), [labels[_argmax(p)] for p in probabilities[: len(rows)]])
    if calibrate:
        bias = probabilities[-1]
        result.bias = dict(zip(labels, bias, strict=True))
        result.calibrated = [
            labels[_argmax([p / max(b, 1e-12) for p, b in zip(probs, bias, strict=True)])]
            for probs in probabilities[: len(rows)]
        ]
    return result


def continuations(prompt: FewShotPrompt, labels: Sequence[str]) -> list[str]:
    """Each label as the model would write it after the query's output prefix."""
    # The model writes the space after the output prefix itself, as in every example.
    lead = prompt.template.output_prefix[len(prompt.template.output_prefix.rstrip(" ")) :]
    return [lead + label for label in labels]


def label_probabilities(
    scorer,
    prompt: FewShotPrompt,
    queries: Sequence[str],
    labels: Sequence[str],
    batch: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """(len(queries) × len(labels)) label probabilities: each label scored after `prompt` with the
    query in place, softmaxed over the labels. The one scoring primitive evaluation, example
    selection and the bias probe share. `scorer.score_many([(text, continuation)])` returns
    log-probabilities (the embedded backend; remote backends that can score)."""
    labels = list(labels)
    ends = continuations(prompt, labels)
    rows: list[list[float]] = []
    for start in range(0, len(queries), batch):
        chunk = queries[start : start + batch]
        texts = [prompt.model_copy(update={"query": q}).render() for q in chunk]
        scores = scorer.score_many([(t, c) for t in texts for c in ends])
        rows += [_softmax(scores[i * len(labels) : (i + 1) * len(labels)]) for i in range(len(chunk))]
        if progress:
            progress(min(start + batch, len(queries)), len(queries))
    return np.array(rows, dtype=float).reshape(len(rows), len(labels))


def _softmax(logprobs: Sequence[float]) -> list[float]:
    top = max(logprobs)
    exps = [math.exp(v - top) for v in logprobs]
    total = sum(exps)
    return [e / total for e in exps]


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def _accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)


def distribution_table(groups: Sequence[tuple[str, Sequence[str]]]) -> pd.DataFrame:
    """One row per (group, answer) with its count: the data behind a label-distribution chart."""
    rows = [(name, label, n) for name, texts in groups for label, n in distribution(texts)]
    return pd.DataFrame(rows, columns=["group", "answer", "count"])


def majority_baseline(gold: Sequence[str]) -> tuple[str, float]:
    """The most frequent gold label and its share: the accuracy of always answering it (ties: first in sorted order)."""
    if not gold:
        raise ConfigError("There are no labelled rows to compare with.")
    counts = Counter(gold)
    label = min(counts, key=lambda name: (-counts[name], name))
    return label, counts[label] / len(gold)
