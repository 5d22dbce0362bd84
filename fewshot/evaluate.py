"""Evaluation of a few-shot prompt on labelled rows: held-out splits, example draws, a grid of
shots × calibration × scoring mode, and the tables behind it. Also the label distribution of
sampled completions.

The API the UI and the CLI call:

- `read_labelled(path, limit)` → a DataFrame with columns text,label (ConfigError naming the problem).
- `split(frame, fraction, seed)` → (pool, rows): a seeded split of one CSV into an example pool
  (`fraction` of it) and evaluation rows; the two never share a row.
- `draw(pool, k, seed, balanced=False)` → k demonstrations (nested: the first 4 of the 8 drawn with
  the same seed); `balanced` cycles through the labels.
- `run_grid(backend, prompt, pool, rows, labels, shots=…, calibrate=…, scoring=…, draws=…,
  progress=…, stop=…)` → `GridResult`: one `Cell` per (shots, calibration, scoring) with
  `accuracy` (mean over draws), `accuracy_std`, `n`, `draws`, `per_label` {label: {precision,
  recall}}, its confusion table and failures (input, expected, got, probability).
  `GridResult.frame()`, `.confusion_frame()`, `.failures_frame()` and `.to_csv(path)` export them.
  `progress(done, total)` counts scored queries; `stop` (threading.Event-like) ends the run early
  and keeps every cell computed so far (draws completed).
- `majority_baseline(gold)` → (most frequent label, its share).
- `evaluate()` / `Evaluation`: one prompt, one pass, raw and calibrated (batch by default) — the
  older interface the current UI uses.

Scoring modes: `labels` scores every candidate label as a continuation of the prompt (its
log-probability, via `label_probabilities`: exact on the embedded model, on remote servers that
return prompt log-probabilities) and predicts the likeliest; every calibration method applies to
these probabilities. `generate` asks for a greedy completion and maps its first line to a
candidate (exact, then case/space-insensitive prefix); an answer that maps to none counts as wrong
and is listed as "(no label)". Calibration needs probabilities, so generation cells are `none` only.

Gold labels are stripped and matched case-insensitively to the candidates; one that matches no
candidate is a ConfigError naming it. A row whose text is one of the draw's demonstrations is
never scored.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from . import calibrate as cal
from .errors import ConfigError, PromptError
from .prompt import Example, FewShotPrompt
from .settings import GenerationSettings

CONTENT_FREE = "N/A"
MAX_ROWS = 2000
SCORING = ("labels", "generate")
NO_LABEL = "(no label)"
CHUNK = 16  # queries scored between two looks at the stop flag
# Queries per score_many call: the embedded engine is fastest one query at a time (the query is
# evaluated once after the cached examples; measured 0.32 vs 0.12 rows/s for 1 vs 16 on a loaded
# 2-core box), HTTP backends send a call's pairs concurrently.
SCORE_BATCH = {"embedded": 1}


class Stop(Protocol):
    def is_set(self) -> bool: ...


Progress = Callable[[int, int], None]


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


def read_labelled(
    path: str | Path, limit: int | None = None, text: str = "text", label: str = "label"
) -> pd.DataFrame:
    """A CSV with a text and a label column (renamed text,label); errors name the file and what is wrong."""
    name = Path(path).name
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=min(limit or MAX_ROWS, MAX_ROWS))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read {name}: {exc}") from None
    missing = [c for c in (text, label) if c not in frame.columns]
    if missing:
        raise ConfigError(
            f"{name} needs the columns {text},{label} (missing: {', '.join(missing)}; "
            f"it has: {', '.join(map(str, frame.columns))})."
        )
    frame = frame[[text, label]].set_axis(["text", "label"], axis=1)
    frame = frame[frame["text"].str.strip() != ""]
    if frame.empty:
        raise ConfigError(f"{name} has no rows with text.")
    return frame.reset_index(drop=True)


def normalise_labels(gold: Sequence[str], labels: Sequence[str], what: str = "the data") -> list[str]:
    """Each gold label in the candidates' own spelling (stripped, case-insensitive); ConfigError
    naming the first one that is not a candidate."""
    spelling = {c.strip().lower(): c for c in labels}
    out = []
    for g in gold:
        key = str(g).strip().lower()
        if key not in spelling:
            raise ConfigError(
                f"The label {str(g).strip()!r} in {what} is not among the candidates ({', '.join(labels)}): "
                "add it to the labels or fix the row."
            )
        out.append(spelling[key])
    return out


def candidate_labels(frame: pd.DataFrame, labels: Sequence[str] | None) -> list[str]:
    """The given candidates, or the distinct (stripped) labels of `frame` in sorted order; at least two."""
    found = list(labels) if labels else sorted({str(v).strip() for v in frame["label"]})
    if len({c.strip().lower() for c in found}) < len(found):
        raise ConfigError(f"The labels {', '.join(found)} repeat one another (case is ignored): give each once.")
    if len(found) < 2:
        raise ConfigError("Evaluation needs at least two labels.")
    return found


def majority_baseline(gold: Sequence[str]) -> tuple[str, float]:
    """The most frequent gold label and its share (ties: the first in sorted order)."""
    if not gold:
        raise ConfigError("There are no rows to compute a majority baseline on.")
    counts = Counter(gold)
    top = max(counts.values())
    label = sorted(k for k, v in counts.items() if v == top)[0]
    return label, top / len(gold)


# --- splits and draws ---------------------------------------------------------------------------


def split(frame: pd.DataFrame, fraction: float, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pool, rows): a seeded shuffle of `frame`, the first `fraction` of it as the example pool."""
    if not 0 < fraction < 1:
        raise ConfigError(f"The split fraction must be between 0 and 1 (got {fraction}): e.g. 0.5.")
    order = np.random.default_rng(seed).permutation(len(frame))
    cut = round(len(frame) * fraction)
    if cut < 1 or cut >= len(frame):
        raise ConfigError(f"Splitting {len(frame)} rows at {fraction} leaves one side empty: use more rows.")
    pool, rows = frame.iloc[order[:cut]], frame.iloc[order[cut:]]
    return pool.reset_index(drop=True), rows.reset_index(drop=True)


def pool_of(examples: Sequence[Example]) -> pd.DataFrame:
    """The examples table as a pool (columns text,label)."""
    return pd.DataFrame({"text": [e.input for e in examples], "label": [e.output for e in examples]})


def draw(pool: pd.DataFrame, k: int, seed: int = 0, balanced: bool = False) -> pd.DataFrame:
    """k rows of `pool` in a seeded random order. Draws with one seed are nested (the 4 drawn are the
    first 4 of the 8), so more shots add examples rather than swap them. `balanced` takes the
    labels in turn (each label's rows in random order), so k = 4 with two labels gives 2 + 2."""
    if k < 0:
        raise ConfigError(f"The number of shots cannot be negative (got {k}).")
    if k > len(pool):
        raise ConfigError(f"The example pool has {len(pool)} rows; {k} shots need at least {k}: "
                          "lower the shots or give a bigger pool.")
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(len(pool)))
    if balanced:
        labels = list(pool["label"])
        by_label: dict[str, list[int]] = {}
        for i in order:
            by_label.setdefault(labels[i], []).append(i)
        queues = [by_label[name] for name in sorted(by_label)]
        turn = int(rng.integers(len(queues)))  # which label comes first is drawn too (k = 1 is not always the same)
        queues = queues[turn:] + queues[:turn]
        order = [q[r] for r in range(max(map(len, queues))) for q in queues if r < len(q)]
    return pool.iloc[order[:k]].reset_index(drop=True)


# --- generation answers -------------------------------------------------------------------------


def _squash(text: str) -> str:
    return "".join(text.split()).lower()


def match_label(text: str, labels: Sequence[str]) -> str | None:
    """The candidate a completion names: its first non-empty line equal to a label, else the longest
    label it starts with, ignoring case and spaces; None when it names none."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    if line in labels:
        return line
    squashed = _squash(line)
    hits = [c for c in labels if _squash(c) and squashed.startswith(_squash(c))]
    return max(hits, key=lambda c: len(_squash(c))) if hits else None


def generation_settings(labels: Sequence[str], base: GenerationSettings | None = None) -> GenerationSettings:
    """Greedy, long enough for the longest label (and a little slack), ending at the first newline."""
    longest = max(len(label) for label in labels)
    tokens = min(64, max(8, longest // 2 + 4))
    extra = dict(base.model_dump()) if base is not None else {}
    extra.update(temperature=0.0, max_new_tokens=tokens, end_sequence=("\n",), seed=0)
    return GenerationSettings(**extra)


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    input: str
    expected: str
    got: str
    probability: float | None  # of the predicted label (calibrated); None for generation
    draw: int = 0


@dataclass(frozen=True)
class Cell:
    """One grid cell: an accuracy over `draws` example draws of `shots` examples."""

    shots: int
    calibrate: str
    scoring: str
    accuracy: float  # mean over draws
    accuracy_std: float  # sample standard deviation over draws (0 for a single draw)
    n: int  # rows scored per draw
    draws: int
    per_label: dict[str, dict[str, float]]  # label -> {"precision", "recall"}, counts pooled over draws
    accuracies: tuple[float, ...] = ()
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)  # true -> predicted -> count
    failures: tuple[Failure, ...] = ()

    def row(self) -> dict[str, Any]:
        """The cell as one JSON-ready object (what `--format json` prints)."""
        return {
            "shots": self.shots, "calibrate": self.calibrate, "scoring": self.scoring,
            "accuracy": round(self.accuracy, 4), "accuracy_std": round(self.accuracy_std, 4),
            "n": self.n, "draws": self.draws,
            "per_label": {k: {m: round(v, 4) for m, v in d.items()} for k, d in self.per_label.items()},
        }

    def confusion_frame(self) -> pd.DataFrame:
        """Rows: the true label; columns: the predicted one (and "(no label)" when generation missed)."""
        return pd.DataFrame(self.confusion).T.fillna(0).astype(int).rename_axis(index="true", columns="predicted")


@dataclass(frozen=True)
class GridResult:
    cells: tuple[Cell, ...]
    labels: tuple[str, ...]
    majority: tuple[str, float]  # the majority-class baseline on the evaluated rows
    stopped: bool = False

    def cell(self, shots: int, calibrate: str = "none", scoring: str = "labels") -> Cell:
        for c in self.cells:
            if (c.shots, c.calibrate, c.scoring) == (shots, calibrate, scoring):
                return c
        raise KeyError((shots, calibrate, scoring))

    def frame(self) -> pd.DataFrame:
        """One row per cell; per-label precision and recall as columns, the majority baseline alongside."""
        rows = []
        for c in self.cells:
            row = {k: v for k, v in c.row().items() if k != "per_label"}
            for label, m in c.per_label.items():
                row[f"precision[{label}]"], row[f"recall[{label}]"] = m["precision"], m["recall"]
            row["majority"] = round(self.majority[1], 4)
            rows.append(row)
        return pd.DataFrame(rows)

    def confusion_frame(self) -> pd.DataFrame:
        """Long form: shots, calibrate, scoring, true, predicted, count."""
        rows = [(c.shots, c.calibrate, c.scoring, t, p, n)
                for c in self.cells for t, preds in c.confusion.items() for p, n in preds.items()]
        return pd.DataFrame(rows, columns=["shots", "calibrate", "scoring", "true", "predicted", "count"])

    def failures_frame(self) -> pd.DataFrame:
        rows = [(c.shots, c.calibrate, c.scoring, f.draw, f.input, f.expected, f.got, f.probability)
                for c in self.cells for f in c.failures]
        return pd.DataFrame(rows, columns=["shots", "calibrate", "scoring", "draw", "input", "expected", "got",
                                           "probability"])

    def to_csv(self, path: str | Path) -> list[Path]:
        """The cells at `path`, the confusion tables and failures beside it (…_confusion.csv, …_failures.csv)."""
        path = Path(path)
        paths = [path, path.with_name(path.stem + "_confusion.csv"), path.with_name(path.stem + "_failures.csv")]
        for p, table in zip(paths, (self.frame(), self.confusion_frame(), self.failures_frame()), strict=True):
            try:
                table.to_csv(p, index=False)
            except OSError as exc:
                raise ConfigError(f"Cannot write {p}: {exc.strerror or exc}.") from None
        return paths


def _per_label(confusion: dict[str, dict[str, int]], labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision and recall of each label from pooled counts (0 where undefined)."""
    out = {}
    for label in labels:
        tp = confusion.get(label, {}).get(label, 0)
        predicted = sum(row.get(label, 0) for row in confusion.values())
        actual = sum(confusion.get(label, {}).values())
        out[label] = {"precision": tp / predicted if predicted else 0.0, "recall": tp / actual if actual else 0.0}
    return out


@dataclass
class _Outcome:
    """One draw's predictions for one (shots, calibration, scoring)."""

    gold: list[str]
    got: list[str]
    texts: list[str]
    probability: list[float | None]


def _cell(key: tuple[int, str, str], outcomes: list[_Outcome], labels: Sequence[str]) -> Cell:
    accuracies = [sum(g == p for g, p in zip(o.gold, o.got, strict=True)) / len(o.gold) for o in outcomes]
    confusion: dict[str, dict[str, int]] = {label: {} for label in labels}
    failures = []
    for d, o in enumerate(outcomes):
        for text, g, p, prob in zip(o.texts, o.gold, o.got, o.probability, strict=True):
            confusion[g][p] = confusion[g].get(p, 0) + 1
            if g != p:
                failures.append(Failure(text, g, p, prob, d))
    for row in confusion.values():  # every candidate is a column, even if never predicted
        for label in labels:
            row.setdefault(label, 0)
    std = float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else 0.0
    shots, method, scoring = key
    return Cell(shots, method, scoring, float(np.mean(accuracies)), std, min(len(o.gold) for o in outcomes),
                len(outcomes), _per_label(confusion, labels), tuple(accuracies), confusion, tuple(failures))


# --- the grid -----------------------------------------------------------------------------------


def _probabilities(scorer, prompt: FewShotPrompt, queries: Sequence[str], labels: Sequence[str],
                   tick: Callable[[int], None], stop: Stop | None) -> np.ndarray | None:
    """label_probabilities in chunks, looking at the stop flag between them; None when stopped."""
    parts = []
    for start in range(0, len(queries), CHUNK):
        if stop is not None and stop.is_set():
            return None
        chunk = queries[start : start + CHUNK]
        batch = SCORE_BATCH.get(getattr(scorer, "name", ""), len(chunk))
        parts.append(label_probabilities(scorer, prompt, chunk, labels, batch=batch))
        tick(len(chunk))
    return np.concatenate(parts) if parts else np.zeros((0, len(labels)))


def _generated(backend, prompt: FewShotPrompt, queries: Sequence[str], settings: GenerationSettings,
               tick: Callable[[int], None], stop: Stop | None) -> list[str] | None:
    """Each query's greedy completion (a failed row raises its error); None when stopped."""
    from .errors import BackendError

    texts: list[str] = []
    for start in range(0, len(queries), CHUNK):
        if stop is not None and stop.is_set():
            return None
        chunk = queries[start : start + CHUNK]
        rows = [(prompt.model_copy(update={"query": q}), settings) for q in chunk]
        done: dict[int, str] = {}
        for i, c in backend.generate_many(rows):
            if c.done:
                if c.error:
                    raise BackendError(c.error, backend=getattr(backend, "name", ""))
                done[i] = c.text
        texts += [done.get(i, "") for i in range(len(chunk))]
        tick(len(chunk))
    return texts


def content_free_inputs(methods: Sequence[str], texts: Sequence[str], seed: int = 0) -> dict[str, list[str]]:
    """The extra inputs each method needs: the paper's three for contextual, random in-domain words for domain."""
    table = {"contextual": lambda: list(cal.CONTENT_FREE), "domain": lambda: cal.domain_inputs(texts, seed=seed)}
    return {m: table[m]() for m in methods if m in table}


def run_grid(
    backend,
    prompt: FewShotPrompt,
    pool: pd.DataFrame,
    rows: pd.DataFrame,
    labels: Sequence[str] | None = None,
    *,
    shots: Sequence[int] = (0, 4, 8),
    calibrate: Sequence[str] = ("none", "batch"),
    scoring: Sequence[str] = ("labels",),
    draws: int = 3,
    balanced: bool = False,
    seed: int = 0,
    settings: GenerationSettings | None = None,
    progress: Progress | None = None,
    stop: Stop | None = None,
) -> GridResult:
    """Accuracy for every (shots, calibration, scoring): `draws` seeded draws of `shots` examples from
    `pool`, each scored on every row of `rows`. The prompt gives the task and template (its own
    examples are replaced by each draw). Label scoring needs `backend.score_many` (see
    backends.base.scorer_for); generation uses `backend.generate_many` with greedy `settings`."""
    methods = cal.check_methods(calibrate)
    modes = list(scoring)
    if unknown := [s for s in modes if s not in SCORING]:
        raise ConfigError(f"Unknown scoring {unknown[0]!r}: choose from {', '.join(SCORING)}.")
    if draws < 1:
        raise ConfigError(f"Draws must be at least 1 (got {draws}).")
    labels = candidate_labels(pd.concat([rows, pool]) if len(pool) else rows, labels)  # default: every label seen
    rows = rows.assign(label=normalise_labels(rows["label"], labels, "the evaluation rows"))
    pool = pool.assign(label=normalise_labels(pool["label"], labels, "the example pool")) if len(pool) else pool
    shots = sorted(set(shots))
    for k in shots:
        draw(pool, k, seed, balanced)  # a pool smaller than k fails here, before any scoring
    if "labels" in modes:
        from .backends.base import scorer_for

        scorer_for(backend)
    extra = content_free_inputs(methods, list(rows["text"]), seed) if "labels" in modes else {}
    n_extra = sum(map(len, extra.values()))
    gen = generation_settings(labels, settings)
    n_draws = {k: 1 if k == 0 else draws for k in shots}  # zero shots: every draw is the same prompt
    per_draw = len(rows) + n_extra if "labels" in modes else 0
    per_draw += len(rows) if "generate" in modes else 0
    total, done = sum(n_draws[k] * per_draw for k in shots), 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, total)

    results: dict[tuple[int, str, str], list[_Outcome]] = {}
    stopped = False
    for k in shots:
        for d in range(n_draws[k]):
            demos = draw(pool, k, seed + d, balanced)
            shown = set(demos["text"])
            scored = rows[~rows["text"].isin(shown)]  # a demonstration is never scored
            if scored.empty:
                raise ConfigError("Every evaluation row is also a demonstration: use separate pool and rows.")
            few = prompt.model_copy(update={"examples": tuple(Example(input=t, output=g) for t, g in
                                                            zip(demos["text"], demos["label"], strict=True))})
            texts, gold = list(scored["text"]), list(scored["label"])
            outcome: dict[tuple[int, str, str], _Outcome] = {}
            if "labels" in modes:
                queries = texts + [q for m in extra for q in extra[m]]
                probs = _probabilities(backend, few, queries, labels, tick, stop)
                if probs is None:
                    stopped = True
                    break
                raw, at = probs[: len(texts)], len(texts)
                priors = {}
                for m in extra:
                    priors[m], at = probs[at : at + len(extra[m])], at + len(extra[m])
                for m in methods:
                    fixed = cal.calibrate(m, raw, priors.get(m))
                    best = np.argmax(fixed, axis=1)
                    outcome[(k, m, "labels")] = _Outcome(gold, [labels[i] for i in best], texts,
                                                         [float(fixed[r, i]) for r, i in enumerate(best)])
            if "generate" in modes:
                answers = _generated(backend, few, texts, gen, tick, stop)
                if answers is None:
                    stopped = True
                    break
                got = [match_label(a, labels) or NO_LABEL for a in answers]
                outcome[(k, "none", "generate")] = _Outcome(gold, got, texts, [None] * len(texts))
            for key, o in outcome.items():  # only whole draws count: a stopped draw leaves nothing half-done
                results.setdefault(key, []).append(o)
        if stopped:
            break
    order = [(k, m, s) for s in modes for k in shots for m in (methods if s == "labels" else ["none"])]
    cells = tuple(_cell(key, results[key], labels) for key in order if key in results)
    return GridResult(cells, tuple(labels), majority_baseline(list(rows["label"])), stopped)


# --- the one-pass evaluation the current UI uses ------------------------------------------------


@dataclass
class Evaluation:
    labels: list[str]
    gold: list[str]
    predicted: list[str]
    calibrated: list[str] | None = None
    bias: dict[str, float] = field(default_factory=dict)  # the prior divided out (batch: the mean distribution)
    method: str = "none"

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
    progress: Progress | None = None,
    *,
    method: str = "batch",
) -> Evaluation:
    """Predict every row's label by scoring each label after the prompt (the row as query), raw and,
    with `calibrate`, calibrated by `method` (batch by default: the content-free "N/A" alone can
    make a prompt worse than no calibration)."""
    labels = candidate_labels(rows, labels)
    gold = normalise_labels(rows["label"], labels, "the evaluation rows")
    texts = list(rows["text"])
    extra = content_free_inputs([method], texts) if calibrate else {}
    queries = texts + [q for qs in extra.values() for q in qs]
    probs = label_probabilities(scorer, prompt, queries, labels, batch=batch, progress=progress)
    raw = probs[: len(texts)]
    result = Evaluation(labels, gold, cal.predictions(raw, labels))
    if calibrate:
        content_free = probs[len(texts) :] if extra else None
        prior = cal.normalise(content_free).mean(axis=0) if extra else cal.normalise(raw).mean(axis=0)
        if method == "none":
            prior = np.full(len(labels), 1 / len(labels))
        result.calibrated = cal.predictions(cal.calibrate(method, raw, content_free), labels)
        result.bias = {label: float(p) for label, p in zip(labels, prior, strict=True)}
        result.method = method
    return result


# --- the scoring primitive ----------------------------------------------------------------------


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
    progress: Progress | None = None,
) -> np.ndarray:
    """(len(queries) × len(labels)) label probabilities: each label scored after `prompt` with the
    query in place, softmaxed over the labels. The one scoring primitive evaluation, example
    selection and the bias probe share. `scorer.score_many([(text, continuation)])` returns
    log-probabilities (the embedded backend; remote backends that can score)."""
    labels = list(labels)
    if not labels:
        raise PromptError("Scoring needs at least one label.")
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


def _accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)


def distribution_table(groups: Sequence[tuple[str, Sequence[str]]]) -> pd.DataFrame:
    """One row per (group, answer) with its count: the data behind a label-distribution chart."""
    rows = [(name, label, n) for name, texts in groups for label, n in distribution(texts)]
    return pd.DataFrame(rows, columns=["group", "answer", "count"])


__all__ = [
    "CONTENT_FREE", "NO_LABEL", "SCORING", "Cell", "Evaluation", "Failure", "GridResult", "candidate_labels",
    "continuations", "distribution", "distribution_table", "draw", "evaluate", "label_of", "label_probabilities",
    "majority_baseline", "match_label", "normalise_labels", "parse_labels", "pool_of", "read_labelled",
    "run_grid", "split",
]
