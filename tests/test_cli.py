"""`python -m fewshot`, run as a user would: a subprocess, its stdout, stderr and exit code."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fewshot", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_help_documents_the_settings_and_sweeps():
    out = cli("run", "--help")
    assert out.returncode == 0
    for word in ("--sweep", "--set", "--format", "temperature", "end_sequence", "shots", "greedy"):
        assert word in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "no-such-preset"], "No preset named 'no-such-preset'"),
        (["run", "sentiment", "--set", "temperature=9"], "temperature must be less than or equal to 2"),
        (["run", "sentiment", "--set", "tempreature=0.1"], "unknown setting 'tempreature'"),
        (["run", "sentiment", "--sweep", "top_k=1,x"], "top_k must be a valid integer"),
        (["run", "sentiment", "--query", " "], "The query is empty"),
        (["run", "sentiment", "--set", "temperature"], "--set takes KEY=VALUE"),
        (["run", "sentiment", "--format", "xml"], "invalid choice: 'xml'"),
    ],
)
def test_bad_input_exits_2_with_one_readable_line(args, message):
    out = cli(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_json_sweep_prints_one_object_per_completion():
    out = cli(
        "run", "sentiment", "--query", "What a great day!", "--set", "temperature=0",
        "--sweep", "max_new_tokens=2,8", "--sweep", "shots=0,4", "--format", "json",
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 4
    assert {(r["settings"]["max_new_tokens"], r["shots"]) for r in rows} == {(2, 0), (2, 4), (8, 0), (8, 4)}
    for r in rows:
        assert {"settings", "text", "finish_reason", "prompt_tokens", "completion_tokens", "seconds"} <= set(r)
        assert r["settings"]["temperature"] == 0
        assert r["finish_reason"] in {"end_sequence", "length", "end_of_text"}
        assert r["completion_tokens"] <= r["settings"]["max_new_tokens"]
    # More shots, longer prompt.
    by_shots = {r["shots"]: r["prompt_tokens"] for r in rows}
    assert by_shots[4] > by_shots[0]


def test_table_output_runs_the_preset_columns():
    out = cli("run", "translate-en-fr", "--set", "max_new_tokens=6")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:3] == ["#", "settings", "finish"]
    assert len(lines) == 1 + 3  # the preset's three columns


def test_remote_backends_from_the_cli(replay):
    out = cli("run", "sentiment", "--backend", "tgi", "--url", replay.url + "/generate_stream", "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 3 and all(r["text"] == " positive\n" and r["backend"] == "tgi" for r in rows)
    out = cli("run", "sentiment", "--backend", "ollama", "--url", replay.url, "--model", "llama3.2")
    assert out.returncode == 0 and "llama3.2" not in out.stderr
    assert out.stdout.count("positive") == 3


def test_a_failing_row_prints_an_error_object_and_exits_1(replay):
    out = cli("run", "sentiment", "--backend", "chat", "--url", replay.scenario("status=401") + "/v1",
              "--model", "m", "--format", "json")
    assert out.returncode == 1
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 3 and all("token was refused or is missing (401)" in r["error"] for r in rows)
    assert "Traceback" not in out.stderr


def test_faults_that_recover_within_the_retry_budget_simply_succeed(replay):
    out = cli("run", "sentiment", "--backend", "tgi", "--url", replay.scenario("flaky429=2,cli"), "--format", "json")
    assert out.returncode == 0, out.stdout
    assert all("error" not in json.loads(line) for line in out.stdout.splitlines())


def test_a_remote_backend_needs_a_url():
    out = cli("run", "sentiment", "--backend", "openai")
    assert out.returncode == 2 and "needs --url" in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "sentiment", "--url", "http://x:8000"], "--url needs --backend"),
        (["run", "sentiment", "--sweep", "temperature=0.1", "--sweep", "temperature=0.5"], "given twice"),
        (["run", "sentiment", "--samples", "100"], "limit is 64"),
    ],
)
def test_more_bad_input(args, message):
    out = cli(*args)
    assert out.returncode == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1


# --- eval -------------------------------------------------------------------------------------------

TINY = str(ROOT / "tests" / "data" / "tiny_sentiment.csv")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "missing.csv"], "Cannot read missing.csv"),
        (["--data", TINY, "--text-column", "sentence"], "needs the columns sentence,label (missing: sentence"),
        (["--data", TINY, "--labels", "positive,neutral"], "The label 'negative' in the evaluation rows is not "
                                                            "among the candidates (positive, neutral)"),
        (["--data", TINY, "--shots", "0,8"], "The example pool has 4 rows; 8 shots need at least 8"),
        (["--data", TINY, "--split", "0.5", "--shots", "5"], "The example pool has 4 rows; 5 shots need at least 5"),
        (["--data", TINY, "--shots", "0,x"], "takes whole numbers separated by commas"),
        (["--data", TINY, "--split", "2"], "between 0 and 1"),
        (["--data", TINY, "--calibrate", "none,platt"], "Unknown calibration 'platt'"),
        (["--data", TINY, "--scoring", "vibes"], "Unknown scoring 'vibes'"),
        (["--data", TINY, "--pool", TINY, "--split", "0.5"], "not allowed with argument"),
    ],
)
def test_eval_bad_input_exits_2_with_one_readable_line(args, message):
    out = cli("eval", "sentiment", *args)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_eval_refuses_label_scoring_where_the_backend_cannot_score(replay):
    out = cli("eval", "sentiment", "--data", TINY, "--backend", "ollama", "--url", replay.url, "--model", "m")
    assert out.returncode == 2
    assert "cannot score labels by log-probability" in out.stderr and "use scoring by generation" in out.stderr


def test_eval_json_prints_one_object_per_cell_on_a_remote_server(replay, tmp_path):
    out = cli("eval", "sentiment", "--data", TINY, "--split", "0.5", "--shots", "0,2", "--draws", "2",
              "--calibrate", "none,batch", "--scoring", "labels,generate", "--backend", "tgi", "--url", replay.url,
              "--format", "json", "--out", str(tmp_path / "results.csv"))
    assert out.returncode == 0, out.stderr
    cells = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(c["shots"], c["calibrate"], c["scoring"], c["draws"]) for c in cells] == [
        (0, "none", "labels", 1), (0, "batch", "labels", 1), (2, "none", "labels", 2), (2, "batch", "labels", 2),
        (0, "none", "generate", 1), (2, "none", "generate", 2)]
    for c in cells:
        assert set(c) == {"shots", "calibrate", "scoring", "accuracy", "accuracy_std", "n", "draws", "per_label"}
        assert c["n"] == 4 and set(c["per_label"]) == {"negative", "positive"}
    # The replay model always prefers " positive": raw and generation cells score the positive rows only.
    by = {(c["shots"], c["calibrate"], c["scoring"]): c for c in cells}
    positives = by[(0, "none", "labels")]
    assert positives["per_label"]["positive"]["recall"] == 1.0 and positives["per_label"]["negative"]["recall"] == 0
    assert (tmp_path / "results.csv").read_text().startswith("shots,calibrate,scoring,accuracy")
    assert "expected" in (tmp_path / "results_failures.csv").read_text().splitlines()[0]


def test_eval_table_on_the_embedded_model():
    out = cli("eval", "sentiment", "--data", TINY, "--limit", "4", "--shots", "4", "--draws", "1",
              "--calibrate", "none,batch")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("4 rows, pool of 4, labels: negative, neutral, positive; majority baseline 0.500")
    assert [line.split()[:3] for line in lines[2:]] == [["4", "labels", "none"], ["4", "labels", "batch"]]
    assert all(line.split()[5:] == ["0.000", "4", "1"] for line in lines[2:])  # one draw: no spread; 4 rows
