"""The feedback log: records, tokens kept out, filters, summaries, CSV, and concurrent writers."""

import io
import json
import subprocess
import sys
import threading
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from pydantic import ValidationError

from fewshot import feedback
from fewshot.backends import BackendSpec
from fewshot.errors import ConfigError
from fewshot.presets import Column
from fewshot.settings import GenerationSettings
from tests.conftest import ROOT

HF_TOKEN = "hf_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"
OPENAI_KEY = "sk-" + "proj-abcdefghijklmnop1234"


def entry(**kw):
    return feedback.Feedback(**{
        "rating": "bad", "prompt": "Tweet: x\nSentiment:", "completion": "negative",
        "settings": GenerationSettings(), "backend": BackendSpec(kind="tgi", url="http://h:8080"), **kw,
    })


def test_feedback_is_appended_and_read_back(tmp_path):
    feedback.record(entry(), tmp_path)
    feedback.record(entry(rating="good", completion="positive"), tmp_path)
    rows = feedback.read(tmp_path)
    assert [(r.rating, r.completion) for r in rows] == [("bad", "negative"), ("good", "positive")]
    assert rows[0].backend.url == "http://h:8080" and rows[0].time


def test_a_record_has_no_place_for_a_token():
    with pytest.raises(ValidationError, match="token"):
        entry(token="hf_abc")
    with pytest.raises(ValidationError):
        feedback.Feedback.model_validate({**entry().model_dump(), "backend": {"kind": "tgi", "token": "x"}})
    with pytest.raises(ValidationError):
        entry(rating="meh")


def test_original_and_correction_are_kept_apart_with_seed_sample_and_preset(tmp_path):
    corrected = entry(original="negative", completion="positive", seed=1234, sample=2, column=1,
                      preset="disability-sentiment", model="SmolLM2-135M")
    as_generated = entry(original="neutral", completion="neutral", rating="good", sample=3)
    for e in (corrected, as_generated):
        feedback.record(e, tmp_path)
    first, second = feedback.read(tmp_path)
    assert (first.original, first.correction, first.completion) == ("negative", "positive", "positive")
    assert first.corrected and not second.corrected and second.correction is None
    assert (first.seed, first.sample, first.column, first.preset, first.model) == (
        1234, 2, 1, "disability-sentiment", "SmolLM2-135M")
    assert second.sample == 3
    # Today's app passes only the completion as left: that still saves and reads back.
    assert entry().original is None and entry().correction is None


def test_tokens_never_reach_the_log(tmp_path):
    e = feedback.make(
        "bad", f"Key {HF_TOKEN}\nTweet: x\nSentiment:", f"negative Bearer {OPENAI_KEY}",
        {"temperature": 0.1, "token": HF_TOKEN, "api_key": OPENAI_KEY},
        {"kind": "openai", "url": f"https://me:{HF_TOKEN}@api.example.com/v1?api_key={OPENAI_KEY}&region=eu",
         "model": "m", "token": HF_TOKEN, "Authorization": f"Bearer {OPENAI_KEY}"},
        original=f"negative {OPENAI_KEY}", seed=7, access_token=HF_TOKEN,
    )
    feedback.record(e, tmp_path)
    text = (tmp_path / "feedback.jsonl").read_text()
    for secret in (HF_TOKEN, OPENAI_KEY, "me:", "api_key", "access_token"):
        assert secret not in text
    back = feedback.read(tmp_path)[0]
    assert back.backend.url == "https://api.example.com/v1?region=eu"
    assert back.settings.temperature == 0.1 and back.seed == 7
    assert feedback.MASK in back.prompt and "Tweet: x" in back.prompt
    assert feedback.MASK in feedback.to_csv([back]) and HF_TOKEN not in feedback.to_csv([back])


def test_ordinary_text_is_not_mistaken_for_a_token():
    text = "The bearer of good news asked for a skeleton key; sk-8 and hf_small are fine."
    assert feedback.mask_tokens(text) == text
    for url in ("http://127.0.0.1:8080/v1?model=x", "http://[::1]:8080/", "https://Host.Example/api", ""):
        assert feedback.clean_url(url) == url


def test_a_compare_column_is_saved_as_its_settings(tmp_path):
    e = feedback.make("good", "p", "c", Column(temperature=0.3, backend=""), BackendSpec())
    feedback.record(e, tmp_path)
    assert feedback.read(tmp_path)[0].settings == GenerationSettings(temperature=0.3)


def test_bad_values_are_one_readable_line():
    with pytest.raises(ConfigError, match="Cannot save this feedback: rating"):
        feedback.make("meh", "p", "c", {}, {})
    with pytest.raises(ConfigError, match="temperature"):
        feedback.make("bad", "p", "c", {"temperature": 9}, {})


def test_a_log_that_cannot_be_written_says_so(tmp_path):
    (tmp_path / "feedback.jsonl").write_text("{not json\n")
    with pytest.raises(ConfigError, match="Could not save"):
        feedback.record(entry(), tmp_path / "feedback.jsonl")  # a file where the folder should be


def test_a_broken_line_is_reported_and_the_rest_still_read(tmp_path):
    feedback.record(entry(), tmp_path)
    with (tmp_path / "feedback.jsonl").open("a") as f:
        f.write('{"rating": "bad", "prom\n')
    feedback.record(entry(rating="good"), tmp_path)
    problems = []
    rows = feedback.read(tmp_path, problems)
    assert [r.rating for r in rows] == ["bad", "good"]
    assert len(problems) == 1 and problems[0].startswith("feedback.jsonl line 2")


def sample_log():
    return [
        entry(preset="sentiment", time="2026-11-30T10:00:00+00:00", settings=GenerationSettings(temperature=0.1)),
        entry(preset="sentiment", rating="good", time="2026-12-01T09:00:00+00:00"),
        entry(preset="sentiment", time="2026-12-01T23:59:00+00:00", settings=GenerationSettings(temperature=0.1),
              original="negative", completion="positive"),
        entry(preset="translate-en-fr", time="2026-12-02T00:00:01+00:00",
              backend=BackendSpec(kind="local", model="SmolLM2-135M")),
    ]


def test_filters_by_verdict_preset_backend_and_date():
    log = sample_log()
    assert len(feedback.select(log, verdict="bad")) == 3
    assert len(feedback.select(log, preset="sentiment")) == 3
    assert len(feedback.select(log, backend="local")) == 1
    assert len(feedback.select(log, backend="h:8080")) == 3  # part of the label: the host
    assert [r.time[:10] for r in feedback.select(log, since="2026-12-01", until="2026-12-01")] == ["2026-12-01"] * 2
    assert len(feedback.select(log, since=date(2026, 12, 2))) == 1
    assert len(feedback.select(log, until=datetime(2026, 11, 30, 12, tzinfo=UTC))) == 1
    assert len(feedback.select(log, verdict="bad", preset="sentiment", corrected=True)) == 1
    with pytest.raises(ConfigError, match="is not a date"):
        feedback.select(log, since="yesterday")


def test_failures_by_preset_and_setting_worst_first():
    summary = feedback.failures(sample_log())
    top = summary.iloc[0]
    assert (top["preset"], top["setting"], top["rated"], top["bad"], top["corrected"]) == (
        "sentiment", "temp=0.1", 2, 2, 1)
    assert top["bad_share"] == 1.0
    assert summary["rated"].sum() == 4 and list(summary.columns) == [
        "preset", "setting", "rated", "bad", "bad_share", "corrected"]
    assert feedback.failures([]).empty


def test_csv_export_round_trips_and_defuses_formulas(tmp_path):
    log = [*sample_log(), entry(completion="=HYPERLINK(\"http://x\")", prompt="<b>bold</b>")]
    text = feedback.to_csv(log, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_text() == text
    back = pd.read_csv(io.StringIO(text), keep_default_na=False)
    assert len(back) == 5 and list(back.columns) == feedback.COLUMNS
    assert back.loc[2, "original"] == "negative" and back.loc[2, "correction"] == "positive"
    assert back.loc[4, "completion"].startswith("'=") and back.loc[4, "prompt"] == "<b>bold</b>"
    assert json.loads(back.loc[0, "settings"])["temperature"] == 0.1


WRITER = """
import sys, threading
from fewshot import feedback
from fewshot.backends import BackendSpec
from fewshot.settings import GenerationSettings
where, writer, threads, per, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def write(t):
    for i in range(per):
        tag = f"{writer}-{t}-{i}"
        feedback.record(feedback.Feedback(rating="bad", prompt=tag + "|" + tag[0] * size, completion=tag,
                        settings=GenerationSettings(), backend=BackendSpec()), __import__("pathlib").Path(where))
ts = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
[t.start() for t in ts]
[t.join() for t in ts]
"""


def test_many_threads_and_processes_writing_at_once_never_corrupt_the_log(tmp_path):
    # 30 KB lines span several io buffers: a writer that wrote a record in pieces would interleave.
    processes, threads, per, size = 3, 3, 20, 30_000
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), f"p{n}", str(threads), str(per),
                               str(size)], cwd=ROOT) for n in range(processes)]

    def write(t: int) -> None:
        for i in range(per):
            tag = f"m-{t}-{i}"
            feedback.record(entry(prompt=tag + "|" + "m" * size, completion=tag), tmp_path)

    local = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
    for t in local:
        t.start()
    for t in local:
        t.join()
    assert [p.wait(timeout=120) for p in procs] == [0] * processes
    lines = (tmp_path / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == (processes + 1) * threads * per
    records = [feedback.Feedback.model_validate_json(line) for line in lines]  # every line parses
    tags = [r.completion for r in records]
    assert len(set(tags)) == len(tags)
    for r in records:  # and is whole: nothing of another record spliced in
        assert r.prompt == r.completion + "|" + r.completion[0] * size


def test_a_record_reopens_in_the_playground(tmp_path):
    from fewshot import presets

    preset = presets.find("sentiment")
    settings = GenerationSettings(temperature=0.9, seed=42)
    local = entry(prompt=preset.prompt.render(), settings=settings, backend=BackendSpec(kind="local"))
    again = feedback.reopen(local)
    assert again.prompt == preset.prompt and again.columns[0].settings == settings and not again.endpoints
    spec = BackendSpec(kind="tgi", url=f"http://u:{HF_TOKEN}@127.0.0.1:9/")
    state = preset.model_copy(update={"query": "I'm a disabled happy person", "endpoints": {"B": spec}})
    feedback.record(entry(state=state, backend=spec, settings=settings), tmp_path)
    saved = feedback.read(tmp_path)[0]
    assert HF_TOKEN not in (tmp_path / "feedback.jsonl").read_text()
    reopened = feedback.reopen(saved)
    assert reopened.query == "I'm a disabled happy person" and reopened.columns[0].backend == "A"
    assert reopened.endpoints["A"].url == "http://127.0.0.1:9/" and reopened.columns[0].settings == settings
    with pytest.raises(feedback.PromptError, match="cannot be split"):
        feedback.reopen(entry(prompt="free text, no format"))
