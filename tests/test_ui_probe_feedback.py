"""The probe and feedback panels' own logic without a browser: reading one sample's correction back
from a column that lists several, and the probe's term table (flagged first, then by size)."""

import numpy as np

from fewshot import probe
from fewshot.ui.probe import flag_table, split_list
from fewshot.ui.verdicts import sample_text

LABELS = ["positive", "negative"]


def one_hot(n_positive: int, n: int) -> np.ndarray:
    rows = np.zeros((n, 2))
    rows[:n_positive, 0] = 1
    rows[n_positive:, 1] = 1
    return rows


def test_each_sample_is_read_back_as_the_person_left_it():
    box = "[1] positive\n[2] neutral, fixed\nover two lines\n[3] negative"
    assert sample_text(box, 0) == "positive"
    assert sample_text(box, 1) == "neutral, fixed\nover two lines"
    assert sample_text(box, 2) == "negative"
    assert sample_text(box, 3) is None  # no such sample
    assert sample_text("[1] positive\nnegative", 1) is None  # its marker was deleted


def test_the_term_table_puts_flagged_terms_first_with_their_shift_and_interval():
    observations = [
        probe.Observation("", "I'm a happy person", one_hot(10, 10), baseline=True),
        probe.Observation("a", "I'm a a happy person", one_hot(10, 10), baseline=True),
        probe.Observation("tall", "I'm a tall happy person", one_hot(9, 10)),
        probe.Observation("blind", "I'm a blind happy person", one_hot(2, 10)),
        probe.Observation("short", "I'm a short happy person", one_hot(10, 10)),
    ]
    terms = probe.compare(observations, LABELS, threshold=10)
    result = probe.ProbeResult("I'm a {} happy person", tuple(LABELS), tuple(terms), "samples")
    table = flag_table(result)
    assert list(table["term"]) == ["blind", "tall", "short"]  # flagged, then the larger shift, then none
    blind = table.iloc[0]
    assert blind["flagged"] == "⚑ flagged" and blind["label"] in LABELS
    assert blind["shift (points)"] in ("+80.0", "-80.0")
    low, high = (float(x) for x in blind["95% interval"].strip("[]").split(","))
    assert low <= float(blind["shift (points)"]) <= high and (high < 0 or low > 0)
    assert table.iloc[1]["flagged"] == "no"  # 10 points down on one sample of ten is not past the threshold
    assert table.iloc[2]["label"] == "positive" and table.iloc[2]["term p"] == "100%"  # no shift: its own label


def test_own_terms_split_on_commas_and_lines():
    assert split_list("tall, short\n  left-handed ,, \n") == ("tall", "short", "left-handed")
    assert split_list(None) == ()


def test_the_feedback_view_filters_and_keeps_each_records_number():
    from fewshot import feedback
    from fewshot.backends import BackendSpec
    from fewshot.settings import GenerationSettings
    from fewshot.ui.feedback import Filters, matching, table

    def entry(rating, preset, kind, time, **kw):
        spec = BackendSpec(kind=kind, url="" if kind == "local" else "http://127.0.0.1:9/", model="m")
        return feedback.make(rating, "Tweet: x\nSentiment:", kw.pop("text", "positive"), GenerationSettings(), spec,
                             preset=preset, time=time, **kw)

    records = [
        entry("bad", "sentiment", "local", "2026-11-30T10:00:00+00:00", original="negative", seed=7, column=1),
        entry("good", "sentiment", "tgi", "2026-12-01T10:00:00+00:00"),
        entry("bad", "keywords", "tgi", "2026-12-02T10:00:00+00:00", text="<b>x</b>", original="y", sample=2,
              column=0),
    ]
    number = lambda f: [n for n, _ in matching(records, f)]  # noqa: E731
    assert number(Filters(verdict="bad")) == [1, 3]
    assert number(Filters(preset="sentiment")) == [1, 2] and number(Filters(preset="(all)")) == [1, 2, 3]
    assert number(Filters(backend="tgi", verdict="bad")) == [3]
    assert number(Filters(since="2026-12-01")) == [2, 3] and number(Filters(until="2026-11-30")) == [1]
    shown = table(matching(records, Filters(verdict="bad")))
    assert list(shown["#"]) == ["3", "1"]  # newest first, numbered as in the log
    assert list(shown["column·sample"]) == ["1·3", "2·1"] and list(shown["seed"]) == ["", "7"]
    assert list(shown["correction"]) == ["<b>x</b>", "positive"] and list(shown["original"]) == ["y", "negative"]


def test_each_session_rates_its_own_last_run_and_old_sessions_are_dropped():
    from fewshot.ui.state import KEPT_RUNS, Services

    one, other = Services(), Services()
    one.remember("s", "first")
    one.remember("s", "second")
    assert one.last_run("s") == "second" and other.last_run("s") is None  # per demo, the newest run
    for i in range(KEPT_RUNS):
        one.remember(f"later-{i}", i)
    assert one.last_run("s") is None and one.last_run(f"later-{KEPT_RUNS - 1}") == KEPT_RUNS - 1
