"""Choosing the demonstrations: which k pool examples, in which order, measured on held-out rows.

Strategies (`METHODS`):

- `random` — k pool rows drawn with a seed; the baseline every other strategy is compared with.
- `balanced` — every label represented, labels taken round-robin (a warning names labels the
  pool lacks, or that k is too small to cover).
- `similar` — per query, the k pool rows nearest to it by TF-IDF cosine (KATE, Liu et al. 2022),
  the most similar last, next to the query. The prompt differs per row.
- `search` — random search over subsets and orders plus a greedy forward pass; every candidate
  is scored by label-scoring accuracy (with the chosen calibration) on a *selection split* only.
  The caller reports the winner on a separate *test split* (`compare_with_random`).

`order_sensitivity` scores up to 24 orders of a fixed set (Lu et al. 2022). `apply` returns the
prompt with the chosen examples. Scoring goes through `evaluate.label_probabilities`, one query
at a time, so the engine's cached task+examples prefix makes a candidate cost its own prefix plus
one query per row. Pool rows whose text is also an evaluated row are dropped (`disjoint_pool`):
no evaluated row is ever its own demonstration.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import calibrate as cal
from .errors import ConfigError
from .evaluate import label_probabilities, majority_baseline, read_labelled
from .presets import ExampleStrategy, Preset
from .prompt import Example, FewShotPrompt

METHODS = ("random", "balanced", "similar", "search")
MAX_ORDERS = 24  # "Fantastically Ordered Prompts" looks at 24 orders of 4 examples
MAX_K = 32

Examples = tuple[Example, ...]
Chooser = Callable[[str], Examples]  # query -> the examples its prompt shows
Progress = Callable[[int, int], None]  # (candidates done, candidates in the budget)


# --- rows and splits -----------------------------------------------------------------------------


def examples_of(frame: pd.DataFrame) -> Examples:
    """Rows text,label as demonstrations (input = text, output = label)."""
    return tuple(Example(input=str(t), output=str(lab)) for t, lab in zip(frame["text"], frame["label"], strict=True))


def split(rows: pd.DataFrame, test_fraction: float = 0.5, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(selection rows, test rows): a seeded shuffle cut in two; both keep at least one row."""
    if not 0 < test_fraction < 1:
        raise ConfigError(f"The test split must be between 0 and 1 (exclusive), got {test_fraction}.")
    if len(rows) < 2:
        raise ConfigError("The data needs at least two rows: one to choose on and one to test on.")
    order = np.random.default_rng(seed).permutation(len(rows))
    n_test = min(max(1, round(len(rows) * test_fraction)), len(rows) - 1)
    shuffled = rows.iloc[order].reset_index(drop=True)
    return shuffled.iloc[n_test:].reset_index(drop=True), shuffled.iloc[:n_test].reset_index(drop=True)


def _key(text: str) -> str:
    return " ".join(str(text).split()).lower()


def disjoint_pool(pool: pd.DataFrame, *evaluated: pd.DataFrame) -> pd.DataFrame:
    """The pool without rows whose text is an evaluated row's (case and spacing ignored)."""
    seen = {_key(t) for rows in evaluated for t in rows["text"]}
    kept = pool[[_key(t) not in seen for t in pool["text"]]].reset_index(drop=True)
    if kept.empty:
        raise ConfigError("Every pool row is also in the data: give a pool (--pool) separate from the rows scored.")
    return kept


def labels_of(*frames: pd.DataFrame) -> list[str]:
    """Every label in the frames, sorted; ConfigError when fewer than two."""
    labels = sorted({str(v) for f in frames for v in f["label"]})
    if len(labels) < 2:
        raise ConfigError("Choosing examples needs at least two labels in the pool and data.")
    return labels


def _check_k(k: int, pool: pd.DataFrame) -> None:
    if not 1 <= k <= MAX_K:
        raise ConfigError(f"k must be between 1 and {MAX_K}, got {k}.")
    if k > len(pool):
        raise ConfigError(f"The pool has {len(pool)} rows, fewer than k = {k}: lower k or give a larger pool.")


# --- strategies ----------------------------------------------------------------------------------


def random_examples(pool: pd.DataFrame, k: int, seed: int = 0) -> Examples:
    """k distinct pool rows in a seeded random order."""
    _check_k(k, pool)
    return examples_of(pool.iloc[random.Random(seed).sample(range(len(pool)), k)])


def balanced_examples(
    pool: pd.DataFrame, k: int, seed: int = 0, labels: Sequence[str] | None = None
) -> tuple[Examples, list[str]]:
    """k pool rows taking the labels round-robin (seeded within each label), and warnings."""
    _check_k(k, pool)
    rng = random.Random(seed)
    labels = list(labels or sorted(pool["label"].unique()))
    groups = {lab: rng.sample(list(idx), len(idx)) for lab, idx in pool.groupby("label").groups.items()}
    warnings = []
    if missing := [lab for lab in labels if lab not in groups]:
        warnings.append(f"The pool has no example of {', '.join(map(repr, missing))}: the prompt cannot show it.")
    present = [lab for lab in labels if lab in groups] + sorted(set(groups) - set(labels))
    if k < len(present):
        warnings.append(f"k = {k} is fewer than the {len(present)} labels: only {k} of them are shown.")
    rng.shuffle(present)  # which label goes first is itself a choice: leave it to the seed
    chosen: list[int] = []
    while len(chosen) < k:  # round-robin; a label with no rows left is skipped
        for lab in present:
            if groups[lab] and len(chosen) < k:
                chosen.append(groups[lab].pop())
    return examples_of(pool.loc[chosen]), warnings


class SimilarIndex:
    """TF-IDF over the pool, fitted once; `nearest(query, k)` is KATE's choice for that query."""

    def __init__(self, pool: pd.DataFrame) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer  # heavy: only when `similar` is used

        self.pool = pool.reset_index(drop=True)
        self.examples = examples_of(self.pool)
        self._keys = [_key(t) for t in self.pool["text"]]
        self.vectorizer = TfidfVectorizer(sublinear_tf=True)
        self.matrix = self.vectorizer.fit_transform(self.pool["text"].astype(str))  # rows are L2-normalised

    def similarities(self, query: str) -> np.ndarray:
        """Cosine similarity of `query` to every pool row."""
        return (self.matrix @ self.vectorizer.transform([query]).T).toarray().ravel()

    def nearest(self, query: str, k: int) -> Examples:
        """The k most similar pool rows, least similar first (the nearest sits next to the query).
        A pool row with the query's own text is never chosen: it would give the answer away."""
        _check_k(k, self.pool)
        sims = self.similarities(query)
        own = _key(query)
        order = [i for i in np.argsort(-sims, kind="stable") if self._keys[i] != own][:k]
        return tuple(self.examples[i] for i in reversed(order))

    def chooser(self, k: int) -> Chooser:
        return lambda query: self.nearest(query, k)


# --- scoring -------------------------------------------------------------------------------------


def content_free(calibration: str, pool_texts: Sequence[str], seed: int = 0) -> list[str]:
    """The extra inputs a calibration needs (none for `none` and `batch`). Domain inputs are drawn
    from the pool's texts, never from the rows being scored."""
    cal.check_methods([calibration])
    table = {"contextual": lambda: list(cal.CONTENT_FREE), "domain": lambda: cal.domain_inputs(pool_texts, seed=seed)}
    return table.get(calibration, list)()


def probabilities(scorer, prompt: FewShotPrompt, choose: Examples | Chooser, queries: Sequence[str],
                  labels: Sequence[str]) -> np.ndarray:
    """(len(queries) × L) label probabilities, each query under the examples `choose` gives it.

    Queries that share their examples are scored together, in one `label_probabilities` call, so
    the engine evaluates that task+examples prefix once.
    """
    pick = choose if callable(choose) else (lambda _query: choose)
    groups: dict[Examples, list[int]] = {}
    for i, q in enumerate(queries):
        groups.setdefault(pick(q), []).append(i)
    out = np.zeros((len(queries), len(labels)))
    for examples, rows in groups.items():
        shown = prompt.model_copy(update={"examples": examples})
        out[rows] = label_probabilities(scorer, shown, [queries[i] for i in rows], labels)
    return out


def accuracy(scorer, prompt: FewShotPrompt, choose: Examples | Chooser, rows: pd.DataFrame, labels: Sequence[str],
             calibration: str = "batch", pool_texts: Sequence[str] = ()) -> float:
    """Label-scoring accuracy of `rows` under `choose`, calibrated with `calibration`."""
    extra = content_free(calibration, pool_texts)
    queries = [*map(str, rows["text"]), *extra]
    probs = probabilities(scorer, prompt, choose, queries, labels)
    n = len(rows)
    calibrated = cal.calibrate(calibration, probs[:n], probs[n:] if extra else None)
    predicted = cal.predictions(calibrated, list(labels))
    return float(np.mean([p == str(g) for p, g in zip(predicted, rows["label"], strict=True)]))


# --- search --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One scored set of examples, in order. `how`: random, balanced or greedy."""

    examples: Examples
    accuracy: float
    how: str


@dataclass(frozen=True)
class SearchResult:
    best: Candidate | None  # None only when stopped before any full-size candidate was scored
    tried: tuple[Candidate, ...]
    budget: int
    stopped: bool
    seconds: float

    @property
    def per_minute(self) -> float:
        """Candidates scored per minute: the figure that says how large a budget is affordable."""
        return len(self.tried) * 60 / self.seconds if self.seconds > 0 else math.inf


def _greedy_plan(budget: int, k: int) -> tuple[int, int]:
    """(random candidates, greedy shortlist per step): about half the budget for each; greedy needs
    at least two options per step to choose, else the whole budget goes to random search."""
    shortlist = (budget // 2) // k
    if shortlist < 2:
        return budget, 0
    return budget - shortlist * k, shortlist


def search(
    scorer,
    prompt: FewShotPrompt,
    pool: pd.DataFrame,
    selection: pd.DataFrame,
    k: int,
    labels: Sequence[str] | None = None,
    calibration: str = "batch",
    budget: int = 32,
    seed: int = 0,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> SearchResult:
    """The best k examples (and order) by accuracy on `selection`; nothing else is ever scored.

    Random search first — candidates alternate between uniform draws and balanced draws, each in a
    random order — then a greedy forward pass: start from nothing and at each of the k positions
    append the shortlisted pool row that scores best. Every scored prompt counts against `budget`;
    the greedy pass's shorter prompts are steps, only k-example candidates can win. `stop` ends
    the search after the current candidate and keeps the best so far.
    """
    _check_k(k, pool)
    if budget < 1:
        raise ConfigError(f"The search budget must be at least one candidate, got {budget}.")
    labels = list(labels or labels_of(pool, selection))
    texts = list(map(str, pool["text"]))
    rng = random.Random(seed)
    n_random, shortlist = _greedy_plan(budget, k)
    tried: list[Candidate] = []
    start = time.perf_counter()

    def score(examples: Examples, how: str) -> Candidate:
        candidate = Candidate(examples, accuracy(scorer, prompt, examples, selection, labels, calibration, texts), how)
        tried.append(candidate)
        if progress:
            progress(len(tried), budget)
        return candidate

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    for i in range(n_random):
        if stopped():
            break
        draw = rng.randrange(2**31)
        if i % 2:
            examples, _ = balanced_examples(pool, k, draw, labels)
            examples = tuple(random.Random(draw).sample(examples, k))
        else:
            examples = random_examples(pool, k, draw)
        score(examples, "balanced" if i % 2 else "random")

    chosen: Examples = ()
    for _ in range(k if shortlist else 0):
        used = {e.input for e in chosen}
        options = [e for e in examples_of(pool.iloc[rng.sample(range(len(pool)), min(len(pool), shortlist + k))])
                   if e.input not in used][:shortlist]
        step = [score((*chosen, e), "greedy") for e in options if not stopped()]
        if not step or len(step) < len(options):  # stopped mid-step: this position was not fully compared
            break
        chosen = max(step, key=lambda c: c.accuracy).examples
    full = [c for c in tried if len(c.examples) == k]
    best = max(full, key=lambda c: c.accuracy) if full else None  # the first of equals: earlier is cheaper to trust
    return SearchResult(best, tuple(tried), budget, stopped(), time.perf_counter() - start)


# --- reporting on the test split -----------------------------------------------------------------


@dataclass(frozen=True)
class Draws:
    """Accuracy of several random draws of k examples on the same rows."""

    accuracies: tuple[float, ...]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies)

    @property
    def std(self) -> float:
        return statistics.stdev(self.accuracies) if len(self.accuracies) > 1 else 0.0


def random_draws(scorer, prompt: FewShotPrompt, pool: pd.DataFrame, rows: pd.DataFrame, k: int,
                 labels: Sequence[str], calibration: str = "batch", draws: int = 5, seed: int = 0) -> Draws:
    """The baseline: `draws` seeded random sets of k examples, each scored on `rows`."""
    texts = list(map(str, pool["text"]))
    seeds = [random.Random(seed).randrange(2**31) + i for i in range(draws)]  # not the search's own draws
    return Draws(tuple(accuracy(scorer, prompt, random_examples(pool, k, s), rows, labels, calibration, texts)
                       for s in seeds))


def majority(rows: pd.DataFrame) -> float:
    """Accuracy of always answering the most frequent label of `rows`."""
    return majority_baseline(list(rows["label"]))[1]


@dataclass(frozen=True)
class Choice:
    """What a strategy chose, with its figures. `examples` is empty for `similar` (per query)."""

    method: str
    k: int
    examples: Examples
    selection_accuracy: float
    test_accuracy: float
    warnings: tuple[str, ...] = ()
    search: SearchResult | None = None
    index: SimilarIndex | None = field(default=None, compare=False, repr=False)

    def examples_for(self, query: str) -> Examples:
        """The examples the prompt shows for `query`."""
        return self.index.nearest(query, self.k) if self.index is not None else self.examples


def choose(
    method: str,
    scorer,
    prompt: FewShotPrompt,
    pool: pd.DataFrame,
    selection: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 4,
    labels: Sequence[str] | None = None,
    calibration: str = "batch",
    budget: int = 32,
    seed: int = 0,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> Choice:
    """Run one strategy and score its choice on both splits (the test split only after choosing)."""
    if method not in METHODS:
        raise ConfigError(f"Unknown method {method!r}: choose from {', '.join(METHODS)}.")
    cal.check_methods([calibration])
    pool = disjoint_pool(pool, selection, test)
    labels = list(labels or labels_of(pool, selection, test))
    warnings: list[str] = []
    index, result = None, None
    if method == "random":
        picked: Examples | Chooser = random_examples(pool, k, seed)
    elif method == "balanced":
        picked, warnings = balanced_examples(pool, k, seed, labels)
    elif method == "similar":
        index = SimilarIndex(pool)
        picked = index.chooser(k)
    else:
        result = search(scorer, prompt, pool, selection, k, labels, calibration, budget, seed, progress, stop)
        if result.best is None:
            raise ConfigError("The search was stopped before it scored a full set of examples: run it longer.")
        picked = result.best.examples
    texts = list(map(str, pool["text"]))
    on_selection = result.best.accuracy if result else accuracy(scorer, prompt, picked, selection, labels,
                                                                calibration, texts)
    on_test = accuracy(scorer, prompt, picked, test, labels, calibration, texts)
    return Choice(method, k, () if callable(picked) else picked, on_selection, on_test, tuple(warnings), result, index)


# --- order sensitivity and apply -----------------------------------------------------------------


@dataclass(frozen=True)
class Orders:
    """Accuracy of each order tried (the prompt's own order first)."""

    orders: tuple[Examples, ...]
    accuracies: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.accuracies)

    @property
    def median(self) -> float:
        return statistics.median(self.accuracies)

    @property
    def max(self) -> float:
        return max(self.accuracies)


def orders_of(examples: Examples, limit: int = MAX_ORDERS, seed: int = 0) -> list[Examples]:
    """Up to `limit` distinct orders: all of them when there are few, else the given one plus
    seeded random permutations."""
    if math.factorial(len(examples)) <= limit:
        return [tuple(p) for p in itertools.permutations(examples)]
    rng, seen = random.Random(seed), {tuple(examples)}
    out = [tuple(examples)]
    while len(out) < limit:
        p = tuple(rng.sample(examples, len(examples)))
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def order_sensitivity(scorer, prompt: FewShotPrompt, rows: pd.DataFrame, labels: Sequence[str] | None = None,
                      calibration: str = "batch", limit: int = MAX_ORDERS, seed: int = 0) -> Orders:
    """Accuracy of the prompt's examples in up to `limit` orders on `rows`."""
    if len(prompt.examples) < 2:
        raise ConfigError("Order sensitivity needs at least two examples in the prompt.")
    labels = list(labels or labels_of(rows))
    orders = orders_of(prompt.examples, limit, seed)
    return Orders(tuple(orders), tuple(accuracy(scorer, prompt, o, rows, labels, calibration) for o in orders))


def apply(prompt: FewShotPrompt, choice: Choice | Examples, query: str | None = None) -> FewShotPrompt:
    """The prompt with the chosen examples (in their order) and, if given, a new query. For a
    `similar` choice the examples are the ones chosen for that query (the prompt's own query when
    none is given)."""
    query = prompt.query if query is None else query
    examples = choice.examples_for(query) if isinstance(choice, Choice) else tuple(choice)
    return prompt.model_copy(update={"examples": examples, "query": query})


# --- presets: a fixed list, or the `similar` rule with its pool ----------------------------------


def load_pool(reference: str, base: Path | None = None) -> pd.DataFrame:
    """The pool CSV a strategy names. With `base`, only files inside that folder are read: a
    preset or link from someone else must not make the app read an arbitrary file."""
    path = Path(reference).expanduser()
    if base is not None:
        path = (base / path).resolve()
        if not path.is_relative_to(base.resolve()):
            raise ConfigError(f"The pool {reference!r} is outside {base}: put the CSV in that folder.")
    if not path.is_file():
        raise ConfigError(f"The pool file {reference!r} does not exist: give the path of a CSV with text,label.")
    return read_labelled(path)


def chooser_for(strategy: ExampleStrategy, base: Path | None = None) -> Chooser:
    """query -> its examples, for a preset's stored strategy (the pool is read and indexed once)."""
    return SimilarIndex(load_pool(strategy.pool, base)).chooser(strategy.k)


def apply_to_preset(preset: Preset, choice: Choice, pool_reference: str = "") -> Preset:
    """The preset with the choice applied: a fixed set becomes its examples; `similar` is stored as
    a strategy with its pool reference, and the examples shown are the ones for the preset's query."""
    examples = choice.examples_for(preset.query)
    strategy = None
    if choice.index is not None:
        if not pool_reference:
            raise ConfigError("Saving a `similar` choice needs the pool's file name, so the preset can find it.")
        strategy = ExampleStrategy(method="similar", k=choice.k, pool=pool_reference)
    return preset.model_copy(update={"examples": examples, "strategy": strategy})
