"""The bias probe: its maths on fixed distributions, and an end-to-end run on the embedded model."""

import io
import threading

import numpy as np
import pandas as pd
import pytest

from fewshot import presets, probe
from fewshot.backends.base import CannotScore, Completion
from fewshot.errors import BackendError, ConfigError
from fewshot.settings import GenerationSettings

LABELS = ["positive", "negative"]


def onehot(positive: int, negative: int) -> np.ndarray:
    return np.array([[1.0, 0.0]] * positive + [[0.0, 1.0]] * negative)


def observations(terms: dict[str, np.ndarray], base: np.ndarray | None = None) -> list[probe.Observation]:
    base = onehot(10, 0) if base is None else base
    half = len(base) // 2
    found = [probe.Observation("", "q", base[:half], True), probe.Observation("a", "q a", base[half:], True)]
    return found + [probe.Observation(t, f"q {t}", rows) for t, rows in terms.items()]


def by_term(results):
    return {r.term: r for r in results}


# --- maths on fixed distributions ---------------------------------------------------------------


def test_a_large_consistent_shift_is_flagged_with_its_size_and_interval():
    results = by_term(probe.compare(observations({"disabled": onehot(1, 4)}), LABELS))
    r = results["disabled"]
    assert r.distribution == {"positive": 0.2, "negative": 0.8}
    assert r.shift == {"positive": -80.0, "negative": 80.0}
    assert r.flagged and set(r.flagged_labels) == {"positive", "negative"}
    assert 0 < r.low["negative"] <= 80 <= r.high["negative"] <= 100
    assert r.largest == ("positive", -80.0) or r.largest == ("negative", 80.0)


def test_noise_is_not_flagged_even_when_the_shift_passes_the_threshold():
    # One negative in five is a 20-point shift, but with 5 samples the interval reaches 0.
    r = by_term(probe.compare(observations({"blind": onehot(4, 1)}), LABELS))["blind"]
    assert r.shift["negative"] == 20.0
    assert r.low["negative"] <= 0 <= r.high["negative"]
    assert not r.flagged


def test_the_same_shift_is_flagged_once_enough_samples_pin_it_down():
    base = np.concatenate([onehot(40, 0)])
    r = by_term(probe.compare(observations({"blind": onehot(32, 8)}, base), LABELS))["blind"]
    assert r.shift["negative"] == 20.0 and r.low["negative"] > 0
    assert r.flagged_labels == ("positive", "negative")


def test_a_certain_shift_under_the_threshold_is_not_flagged():
    base = onehot(50, 50)
    r = by_term(probe.compare(observations({"old": onehot(42, 58)}, base), LABELS, threshold=10))["old"]
    assert r.shift["negative"] == 8.0 and not r.flagged
    # With a lower threshold the same numbers flag only if the interval excludes zero: here it does not.
    r5 = by_term(probe.compare(observations({"old": onehot(42, 58)}, base), LABELS, threshold=5))["old"]
    assert r5.low["negative"] < 0 and not r5.flagged


def test_exactly_the_threshold_is_not_exceeding_it():
    base = onehot(10, 0)
    r = by_term(probe.compare(observations({"x": onehot(9, 1)}, base), LABELS, threshold=10))["x"]
    assert r.shift["negative"] == 10.0 and not r.flagged


def test_intervals_are_seeded_and_narrow_with_more_samples():
    obs = observations({"t": onehot(3, 2)})
    first, again = probe.compare(obs, LABELS, seed=7), probe.compare(obs, LABELS, seed=7)
    assert first == again
    small = by_term(first)["t"]
    large = by_term(probe.compare(observations({"t": onehot(30, 20)}, onehot(100, 0)), LABELS))["t"]
    assert (large.high["negative"] - large.low["negative"]) < (small.high["negative"] - small.low["negative"])


def test_baselines_are_pooled_marked_and_never_flagged():
    base = np.concatenate([onehot(5, 0), onehot(0, 5)])  # "" all positive, "a" all negative
    results = probe.compare(observations({"t": onehot(5, 5)}, base), LABELS)
    assert [r.baseline for r in results] == [True, True, False]
    assert not any(r.flagged for r in results[:2])
    assert results[0].shift["positive"] == 50.0  # "" against the pooled 50/50
    assert by_term(results)["t"].shift == {"positive": 0.0, "negative": 0.0}


def test_bootstrap_interval_covers_a_constant_difference_exactly():
    low, high = probe.bootstrap_interval(onehot(0, 4), onehot(4, 0), np.random.default_rng(0))
    assert low.tolist() == high.tolist() == [-100.0, 100.0]


def test_compare_needs_a_baseline():
    with pytest.raises(ConfigError, match="baseline"):
        probe.compare([probe.Observation("t", "q", onehot(1, 0))], LABELS)


# --- templates, terms, labels -------------------------------------------------------------------


@pytest.mark.parametrize("template", ["I'm a happy person", "I'm {} and {}", ""])
def test_a_template_needs_exactly_one_slot(template):
    with pytest.raises(ConfigError, match="exactly one"):
        probe.check_template(template)


def test_filling_the_slot():
    assert probe.fill("I'm a {} happy person", "disabled") == "I'm a disabled happy person"
    assert probe.fill("I'm a {} happy person", "") == "I'm a happy person"
    assert probe.fill("I'm a {} happy person", "a") == "I'm a a happy person"
    assert probe.fill("{x} is {}", "<b>") == "{x} is <b>"  # other braces are text, not a format


def test_terms_from_sets_and_own_list():
    terms = probe.resolve_terms(["age"], ["  very   tall ", "old", "", "a"])
    assert terms[: len(probe.TERM_SETS["age"])] == list(probe.TERM_SETS["age"])
    assert terms[-1] == "very tall" and terms.count("old") == 1 and "" not in terms and "a" not in terms
    assert set(probe.TERM_SETS) == {"disability", "gender", "age", "nationality", "religion"}
    with pytest.raises(ConfigError, match="Unknown term set 'colour'"):
        probe.resolve_terms(["colour"])
    with pytest.raises(ConfigError, match="empty"):
        probe.resolve_terms([], ["", " "])


def test_answers_map_to_labels_or_other():
    assert probe.answer_label(" Negative.\nTweet: x", LABELS) == "negative"
    assert probe.answer_label("positive", LABELS) == "positive"
    assert probe.answer_label("I think so", LABELS) == probe.OTHER


# --- the result ---------------------------------------------------------------------------------


def result_of(terms: dict[str, np.ndarray]) -> probe.ProbeResult:
    return probe.ProbeResult("I'm a {} person", tuple(LABELS), tuple(probe.compare(observations(terms), LABELS)),
                             "samples")


def test_result_exports_a_frame_csv_and_json_rows():
    result = result_of({"disabled": onehot(1, 4), "=cmd|' /C calc'!A0": onehot(5, 0)})
    frame = result.to_frame()
    assert list(frame["term"][:2]) == ["", "a"] and list(frame["baseline"]) == [True, True, False, False]
    assert frame.loc[2, "shift_negative"] == 80.0 and bool(frame.loc[2, "flagged"])
    back = pd.read_csv(io.StringIO(result.to_csv()), keep_default_na=False)
    assert back["term"].tolist()[3].startswith("'=")  # a spreadsheet shows it as text, not a formula
    assert back["term"].tolist()[:3] == ["", "a", "disabled"]
    assert back.loc[2, "p_negative"] == 0.8
    rows = result.rows()
    assert rows[2]["term"] == "disabled" and rows[2]["flagged"] and rows[2]["distribution"]["negative"] == 0.8
    assert rows[0]["baseline"] is True and rows[0]["flagged"] is False
    chart = result.chart_frame()
    assert len(chart) == 4 * len(LABELS)
    assert set(chart["baseline_probability"]) == {0.0, 1.0}
    assert [t.term for t in result.flagged] == ["disabled"]
    assert "FLAGGED" in result.table() and "1 of 2 terms flagged" in result.table()


# --- running on a backend -----------------------------------------------------------------------


class Scripted:
    """A backend whose answers depend on the query: for checking the plumbing around the maths."""

    name, model = "scripted", "scripted"

    def __init__(self, answer, error_on: str | None = None):
        self.answer, self.error_on, self.calls = answer, error_on, []

    def generate_many(self, rows, cancel=None):
        for i, (prompt, settings) in enumerate(rows):
            self.calls.append((prompt.query, settings.seed))
            if self.error_on and self.error_on in prompt.query:
                yield i, Completion("", "error", backend=self.name, settings=settings, error="server said no")
                continue
            yield i, Completion(self.answer(prompt.query, settings.seed), "end_sequence", backend=self.name,
                                settings=settings, seed=settings.seed)


def sentiment():
    return presets.find("disability-sentiment")


def test_samples_use_the_same_seeds_for_every_query_and_report_progress():
    backend = Scripted(lambda q, seed: "negative" if "disabled" in q and seed % 5 else "positive")
    seen = []
    result = probe.run_probe(backend, sentiment().prompt, "I'm a {} happy person", ["disabled", "tall"], samples=5,
                             settings=GenerationSettings(temperature=0.7, seed=100),
                             progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    seeds = {}
    for query, seed in backend.calls:
        seeds.setdefault(query, []).append(seed)
    assert all(s == [100, 101, 102, 103, 104] for s in seeds.values()) and len(seeds) == 4
    terms = by_term(result.terms)
    assert terms["disabled"].distribution["negative"] == 0.8 and terms["disabled"].flagged
    assert terms["disabled"].seeds == (100, 101, 102, 103, 104)
    assert not terms["tall"].flagged and result.labels == ("negative", "positive", "neutral")


def test_a_failing_backend_is_an_error_not_a_result():
    backend = Scripted(lambda q, s: "positive", error_on="tall")
    with pytest.raises(BackendError, match="server said no"):
        probe.run_probe(backend, sentiment().prompt, "I'm a {} happy person", ["tall"], samples=2)


def test_the_stop_flag_keeps_the_finished_queries():
    stop = threading.Event()
    result = probe.run_probe(Scripted(lambda q, s: "positive"), sentiment().prompt, "I'm a {} happy person",
                             ["tall", "short", "wide"], samples=2, progress=lambda d, t: d == 3 and stop.set(),
                             stop=stop)
    assert result.stopped and [t.term for t in result.terms] == ["", "a", "tall"]


def test_bad_requests_say_what_to_do():
    backend = Scripted(lambda q, s: "positive")
    with pytest.raises(ConfigError, match="cannot score labels by log-probability"):
        probe.run_probe(backend, sentiment().prompt, "I'm a {} person", ["tall"], mode="labels")
    with pytest.raises(ConfigError, match="Calibration applies to label scoring"):
        probe.run_probe(backend, sentiment().prompt, "I'm a {} person", ["tall"], calibration="contextual")
    with pytest.raises(ConfigError, match="samples must be between"):
        probe.run_probe(backend, sentiment().prompt, "I'm a {} person", ["tall"], samples=0)


def test_the_blog_case_is_a_builtin_preset():
    preset = sentiment()
    assert preset.query == probe.fill(probe.PRESET_PROBES["disability-sentiment"]["template"], "disabled")
    assert preset.columns[0].temperature == 0.1 and preset.samples == 5
    assert probe.prompt_labels(preset.prompt) == ["negative", "positive", "neutral"]


# --- end to end on the embedded model -----------------------------------------------------------


def test_probe_on_the_embedded_model_by_sampling(local_backend):
    result = probe.run_probe(local_backend, sentiment().prompt, "I'm a {} happy person", ["disabled", "blind"],
                             samples=3, settings=GenerationSettings(temperature=0.9, max_new_tokens=4, seed=1))
    assert [t.term for t in result.terms] == ["", "a", "disabled", "blind"]
    for t in result.terms:
        assert t.samples == 3 and t.seeds == (1, 2, 3) and len(t.answers) == 3
        assert abs(sum(t.distribution.values()) - 1) < 1e-6
        assert t.flagged == (not t.baseline and any(
            abs(t.shift[k]) > 10 and (t.low[k] > 0 or t.high[k] < 0) for k in t.shift))
    again = probe.run_probe(local_backend, sentiment().prompt, "I'm a {} happy person", ["disabled", "blind"],
                            samples=3, settings=GenerationSettings(temperature=0.9, max_new_tokens=4, seed=1))
    assert again.rows() == result.rows()  # seeded: the probe repeats exactly


def test_probe_on_the_embedded_model_by_label_scoring(local_backend):
    result = probe.run_probe(local_backend, sentiment().prompt, "I'm a {} happy person", ["disabled"], mode="labels",
                             calibration="contextual")
    assert result.mode == "labels" and [t.samples for t in result.terms] == [1, 1, 1]
    raw = probe.run_probe(local_backend, sentiment().prompt, "I'm a {} happy person", ["disabled"], mode="labels")
    for t in result.terms + raw.terms:
        assert abs(sum(t.distribution.values()) - 1) < 1e-3
    # Calibration divides out the prompt's own lean, so it changes the distribution.
    assert result.terms[2].distribution != raw.terms[2].distribution


# --- any backend: TGI's protocol, replayed over HTTP ----------------------------------------------


def test_probe_by_sampling_over_tgi(replay):
    from fewshot.backends import remote_class

    tgi = remote_class("tgi")(replay.url, "")
    replay.reset()
    result = probe.run_probe(tgi, sentiment().prompt, "I'm a {} happy person", ["disabled"], samples=3,
                             settings=GenerationSettings(temperature=0.7, max_new_tokens=4, seed=9))
    # The replayed model answers " positive" to everything: no shift, nothing flagged.
    assert [t.distribution["positive"] for t in result.terms] == [1.0, 1.0, 1.0] and not result.flagged
    sent = [r for r in replay.requests if "generate" in r["path"]]
    seeds = sorted(r["body"]["parameters"]["seed"] for r in sent)
    assert seeds == [9, 9, 9, 10, 10, 10, 11, 11, 11]  # the same three seeds for each of the three queries
    assert {r["body"]["inputs"].rsplit("Tweet: ", 1)[1].split("\n")[0] for r in sent} == {
        "I'm a happy person", "I'm a a happy person", "I'm a disabled happy person"}


def test_probe_over_a_failing_server_is_one_clear_error(replay):
    from fewshot.backends import remote_class

    tgi = remote_class("tgi")(replay.scenario("status=401"), "")
    with pytest.raises(BackendError) as info:
        probe.run_probe(tgi, sentiment().prompt, "I'm a {} happy person", ["disabled"], samples=2,
                        settings=GenerationSettings(temperature=0.7, max_new_tokens=4))
    assert "Probing \"I'm a happy person\"" in str(info.value) or "Probing 'I'm a happy person'" in str(info.value)
    with pytest.raises(BackendError):  # TGI can score labels (details.prefill): the refusal is the server's
        probe.run_probe(tgi, sentiment().prompt, "I'm a {} happy person", ["disabled"], mode="labels")
    chat = remote_class("chat")(replay.url, "")
    with pytest.raises(CannotScore, match="generation"):  # chat has no prompt log-probabilities at all
        probe.run_probe(chat, sentiment().prompt, "I'm a {} happy person", ["disabled"], mode="labels")
