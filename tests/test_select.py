"""Choosing examples: the selection maths on a tiny fixed pool, and searches on the real embedded model.

The scorer is the embedded model wrapped in `Recorder`, which keeps every prompt it was asked to
score: that is how the tests see which rows a search read and which examples each query was shown.
"""

import threading

import pandas as pd
import pytest

from fewshot import presets, select
from fewshot.errors import ConfigError
from fewshot.evaluate import read_labelled
from fewshot.prompt import Example, FewShotPrompt, Template, parse
from tests.conftest import ROOT

POOL = ROOT / "tests" / "data" / "select_pool.csv"
ROWS = ROOT / "tests" / "data" / "select_rows.csv"
TEMPLATE = Template(input_prefix="Text: ", output_prefix="\nTopic: ", separator="\n###\n")
PROMPT = FewShotPrompt(task="Give the topic of each text: animal, money or sport.", template=TEMPLATE)
LABELS = ["animal", "money", "sport"]


class Recorder:
    """The real scorer, keeping every prompt text it scores."""

    def __init__(self, scorer) -> None:
        self.scorer, self.texts = scorer, []

    def score_many(self, pairs):
        self.texts += [text for text, _ in pairs]
        return self.scorer.score_many(pairs)

    def shown(self):
        """(query, example inputs) of every prompt scored."""
        for text in dict.fromkeys(self.texts):
            prompt = parse(text, TEMPLATE)
            yield prompt.query, [e.input for e in prompt.examples]


@pytest.fixture(scope="module")
def scorer(local_backend):
    """The embedded model on one thread: on a busy machine two llama.cpp threads spin against each
    other and a small search takes minutes instead of seconds."""
    from fewshot.backends.local import LocalBackend

    return LocalBackend(local_backend.path, n_threads=1)


@pytest.fixture
def pool():
    return read_labelled(POOL)


@pytest.fixture
def rows():
    return read_labelled(ROWS)


def test_split_is_seeded_disjoint_and_complete(rows):
    selection, test = select.split(rows, 0.25, seed=3)
    assert (len(selection), len(test)) == (9, 3)
    assert sorted([*selection["text"], *test["text"]]) == sorted(rows["text"])
    again = select.split(rows, 0.25, seed=3)
    assert list(again[1]["text"]) == list(test["text"])
    assert list(select.split(rows, 0.25, seed=4)[1]["text"]) != list(test["text"])
    with pytest.raises(ConfigError, match="between 0 and 1"):
        select.split(rows, 1.0)


def test_random_draws_distinct_rows_reproducibly(pool):
    a = select.random_examples(pool, 5, seed=1)
    assert len({e.input for e in a}) == 5
    assert a == select.random_examples(pool, 5, seed=1)
    assert a != select.random_examples(pool, 5, seed=2)
    with pytest.raises(ConfigError, match="fewer than k = 13"):
        select.random_examples(pool, 13)


@pytest.mark.parametrize("seed", range(5))
def test_balanced_covers_every_label_round_robin(pool, seed):
    three, warnings = select.balanced_examples(pool, 3, seed, LABELS)
    assert sorted(e.output for e in three) == LABELS and warnings == []
    six, _ = select.balanced_examples(pool, 6, seed, LABELS)
    outputs = [e.output for e in six]
    assert outputs[:3] == outputs[3:] and sorted(outputs[:3]) == LABELS  # round-robin: the same label cycle twice
    assert len({e.input for e in six}) == 6


def test_balanced_warns_about_missing_labels_and_a_small_k(pool):
    _, warnings = select.balanced_examples(pool, 4, 0, [*LABELS, "plant"])
    assert any("no example of 'plant'" in w for w in warnings)
    two, warnings = select.balanced_examples(pool, 2, 0, LABELS)
    assert len({e.output for e in two}) == 2
    assert any("fewer than the 3 labels" in w for w in warnings)


def test_similar_picks_the_nearest_rows_nearest_last(pool):
    index = select.SimilarIndex(pool)
    nearest = index.nearest("the bank raised interest rates", 2)
    assert [e.input for e in nearest] == ["shares of the bank climbed after earnings",
                                          "interest rates rose at the central bank"]
    sims = index.similarities("the bank raised interest rates")
    assert sims.max() == pytest.approx(sims[list(pool["text"]).index(nearest[-1].input)])
    assert all(e.output == "sport" for e in index.nearest("the striker and the coach of the team", 2))


def test_similar_never_shows_a_query_its_own_text(pool):
    index = select.SimilarIndex(pool)
    own = "A dog barked at the  mail carrier"  # a pool row, up to case and spacing
    assert "a dog barked at the mail carrier" not in [e.input for e in index.nearest(own, 3)]


def test_pool_rows_that_are_evaluated_rows_are_dropped(pool, rows):
    mixed = pd.concat([pool, rows.iloc[:2].assign(text=lambda f: f["text"].str.upper())], ignore_index=True)
    kept = select.disjoint_pool(mixed, rows)
    assert list(kept["text"]) == list(pool["text"])
    with pytest.raises(ConfigError, match="separate from the rows scored"):
        select.disjoint_pool(rows, rows.iloc[:6], rows.iloc[6:])


def test_orders_are_distinct_and_bounded():
    examples = tuple(Example(input=str(i), output="x") for i in range(5))
    assert len(set(select.orders_of(examples[:3]))) == 6  # 3! orders: all of them
    orders = select.orders_of(examples, 24, seed=1)
    assert len(set(orders)) == 24 and orders[0] == examples
    assert all(sorted(o, key=lambda e: e.input) == list(examples) for o in orders)


def test_apply_writes_the_examples_in_their_order_and_similar_as_a_strategy(pool):
    chosen = select.random_examples(pool, 3, seed=0)
    applied = select.apply(PROMPT.model_copy(update={"query": "a cat"}), chosen)
    assert applied.examples == chosen and applied.query == "a cat"
    index = select.SimilarIndex(pool)
    similar = select.Choice("similar", 2, (), 0.5, 0.5, index=index)
    preset = presets.Preset(name="Topics", query="the runner won the race", task=PROMPT.task, template=TEMPLATE)
    saved = select.apply_to_preset(preset, similar, "tests/data/select_pool.csv")
    assert saved.strategy == presets.ExampleStrategy(method="similar", k=2, pool="tests/data/select_pool.csv")
    assert saved.examples == index.nearest("the runner won the race", 2)
    assert select.apply(preset.prompt, similar, "money money").examples == index.nearest("money money", 2)
    # Presets and links carry the strategy; presets without one read and write as before.
    assert presets.decode_state(presets.encode_state(saved)) == saved
    assert presets.parse_preset(presets.to_json(saved)) == saved
    assert "strategy" not in presets.to_json(preset)
    fixed = select.apply_to_preset(saved, select.Choice("search", 3, chosen, 1.0, 1.0), "")
    assert fixed.strategy is None and fixed.examples == chosen
    chooser = select.chooser_for(saved.strategy, base=ROOT)
    assert chooser("the runner won the race") == saved.examples


def test_a_stored_pool_outside_the_allowed_folder_is_refused():
    strategy = presets.ExampleStrategy(k=2, pool="../../etc/passwd")
    with pytest.raises(ConfigError, match="outside"):
        select.chooser_for(strategy, base=ROOT / "tests" / "data")
    with pytest.raises(ConfigError, match="does not exist"):
        select.load_pool("no-such-pool.csv", base=ROOT)


# --- on the embedded model ---------------------------------------------------------------------


def test_search_reads_only_the_selection_split_and_keeps_to_its_budget(scorer, pool, rows):
    selection, test = select.split(rows, 0.5, seed=0)
    recorder = Recorder(scorer)
    seen = []
    result = select.search(recorder, PROMPT, pool, selection.iloc[:4], 2, LABELS, "batch", budget=4, seed=0,
                           progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 4) for i in range(1, 5)]
    assert len(result.tried) == 4 and not result.stopped and result.per_minute > 0
    queries = {q for q, _ in recorder.shown()}
    assert queries == set(selection["text"].iloc[:4])
    scored = "\n".join(recorder.texts)
    assert not [t for t in test["text"] if t in scored]  # no test row as query, example or anything else
    assert result.best.accuracy == max(c.accuracy for c in result.tried if len(c.examples) == 2)


def test_stop_keeps_the_best_so_far(scorer, pool, rows):
    stop = threading.Event()
    result = select.search(scorer, PROMPT, pool, rows.iloc[:3], 2, LABELS, budget=10,
                           progress=lambda done, _total: done == 2 and stop.set(), stop=stop)
    assert result.stopped and len(result.tried) == 2
    assert result.best in result.tried


def test_no_evaluated_row_is_ever_its_own_demonstration(scorer, rows):
    # The pool *is* the data: every strategy must still keep each query out of its own prompt.
    selection, test = select.split(rows, 0.5, seed=1)
    with pytest.raises(ConfigError):
        select.choose("random", scorer, PROMPT, rows, selection, test, 2, LABELS)
    overlapping = pd.concat([rows, read_labelled(POOL)], ignore_index=True)
    for method in ("similar", "search"):
        recorder = Recorder(scorer)
        evaluated = pd.concat([selection.iloc[:3], test.iloc[:3]])
        select.choose(method, recorder, PROMPT, overlapping, selection.iloc[:3], test.iloc[:3], 2, LABELS, budget=2)
        shown = list(recorder.shown())
        assert {q for q, _ in shown} == set(evaluated["text"])
        for query, inputs in shown:
            assert query not in inputs
            assert not set(inputs) & set(evaluated["text"])  # no evaluated row demonstrates anything


def test_end_to_end_search_scores_its_winner_on_the_test_split(scorer, pool, rows):
    selection, test = select.split(rows, 0.5, seed=0)
    choice = select.choose("search", scorer, PROMPT, pool, selection, test, 3, LABELS, budget=6, seed=0)
    assert len(choice.examples) == 3 and {e.input for e in choice.examples} <= set(pool["text"])
    assert len(choice.search.tried) == 6
    # The reported figures are what scoring the winner again gives.
    assert select.accuracy(scorer, PROMPT, choice.examples, selection, LABELS) == choice.selection_accuracy
    assert select.accuracy(scorer, PROMPT, choice.examples, test, LABELS) == choice.test_accuracy
    draws = select.random_draws(scorer, PROMPT, pool, test, 3, LABELS, draws=2)
    assert len(draws.accuracies) == 2 and draws.std >= 0


def test_order_sensitivity_scores_every_order_of_three(scorer, pool, rows):
    examples, _ = select.balanced_examples(pool, 3, 0, LABELS)
    report = select.order_sensitivity(scorer, PROMPT.model_copy(update={"examples": examples}),
                                      rows.iloc[:3], LABELS)
    assert len(report.orders) == 6 == len(set(report.orders))
    assert report.min <= report.median <= report.max
    assert all(a * 3 == round(a * 3) for a in report.accuracies)  # accuracies over 3 rows
