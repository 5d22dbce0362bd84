"""`python -m fewshot select`, run as a user would: a subprocess, its output, exit code and --out file."""

import json

import pytest

from fewshot import presets
from tests.conftest import ROOT
from tests.test_cli import cli

ONE_THREAD = ("--threads", "1")  # two llama.cpp threads on a busy 2-core machine spin against each other
POOL = "tests/data/select_pool.csv"
ROWS = "tests/data/select_rows.csv"
TOPICS = {
    "name": "Topics",
    "task": "Give the topic of each text: animal, money or sport.",
    "query": "the runner won the race",
    "template": {"input_prefix": "Text: ", "output_prefix": "\nTopic: ", "separator": "\n###\n"},
}


@pytest.fixture
def preset_file(tmp_path):
    path = tmp_path / "topics.json"
    path.write_text(json.dumps(TOPICS), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-preset", "--pool", POOL, "--data", ROWS], "No preset named 'no-such-preset'"),
        (["sentiment", "--pool", "missing.csv", "--data", ROWS], "Cannot read missing.csv"),
        (["sentiment", "--pool", POOL, "--data", ROWS, "--k", "0"], "k must be between 1 and 32"),
        (["sentiment", "--pool", POOL, "--data", ROWS, "--k", "13"], "fewer than k = 13"),
        (["sentiment", "--pool", POOL, "--data", ROWS, "--method", "best"], "Unknown --method 'best'"),
        (["sentiment", "--pool", POOL, "--data", ROWS, "--calibrate", "magic"], "Unknown calibration 'magic'"),
        (["sentiment", "--pool", POOL, "--data", ROWS, "--test-split", "1.5"], "test split must be between 0 and 1"),
        (["sentiment", "--pool", ROWS, "--data", ROWS], "separate from the rows scored"),
        (["sentiment", "--pool", POOL, "--data", ROWS, "--budget", "0"], "budget must be at least one"),
        (["sentiment", "--pool", POOL], "the following arguments are required: --data"),
    ],
)
def test_bad_input_exits_2_with_one_readable_line(args, message):
    out = cli("select", *args)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_balanced_json_report_and_out_preset(preset_file, tmp_path):
    out_file = tmp_path / "chosen.json"
    out = cli("select", preset_file, "--pool", POOL, "--data", ROWS, "--k", "3", "--method", "balanced",
              "--draws", "2", "--format", "json", "--out", str(out_file), *ONE_THREAD)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["method"] == "balanced" and report["labels"] == ["animal", "money", "sport"]
    assert sorted(e["output"] for e in report["examples"]) == ["animal", "money", "sport"]
    assert report["rows"] == {"pool": 12, "pool_dropped": 0, "selection": 6, "test": 6}
    assert len(report["random"]["accuracies"]) == 2
    for key in ("selection_accuracy", "test_accuracy", "majority"):
        assert 0 <= report[key] <= 1
    saved = presets.load_file(out_file)
    assert [e.model_dump() for e in saved.examples] == report["examples"]
    assert saved.task == TOPICS["task"] and saved.strategy is None


def test_search_table_prints_choice_splits_and_baseline(preset_file):
    out = cli("select", preset_file, "--pool", POOL, "--data", ROWS, "--k", "2", "--budget", "3", "--draws", "2",
              *ONE_THREAD)
    assert out.returncode == 0, out.stderr
    for text in ("search: 3 candidates", "chosen examples, in order:", "  2. [", "selection accuracy",
                 "test accuracy", "random draws", "(2 draws of 2, same test rows)", "majority class"):
        assert text in out.stdout


def test_similar_out_stores_the_strategy_and_its_pool(preset_file, tmp_path):
    out_file = tmp_path / "similar.json"
    out = cli("select", preset_file, "--pool", POOL, "--data", ROWS, "--k", "2", "--method", "similar",
              "--draws", "1", "--out", str(out_file), *ONE_THREAD)
    assert out.returncode == 0, out.stderr
    assert "the 2 nearest pool rows" in out.stdout
    saved = presets.load_file(out_file)
    assert saved.strategy == presets.ExampleStrategy(method="similar", k=2, pool=POOL)
    assert [e.output for e in saved.examples] == ["sport", "sport"]  # the nearest rows to "the runner won the race"
    assert (ROOT / saved.strategy.pool).exists()
