"""`python -m fewshot probe`, run as a user would: a subprocess, its output and exit code."""

import json

import pandas as pd
import pytest

from fewshot import cli as fewshot_cli
from fewshot import probe
from tests.test_cli import cli

TEMPLATE = "I'm a {} happy person"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sentiment", "--template", "I'm a happy person", "--terms", "age"], "exactly one {} where the term goes"),
        (["sentiment", "--template", "I'm {} and {}", "--terms", "age"], "the term goes (found 2)"),
        (["sentiment", "--template", TEMPLATE, "--terms", "colour"], "Unknown term set 'colour': choose from"),
        (["sentiment", "--template", TEMPLATE, "--terms", ""], "The term list is empty"),
        (["sentiment", "--template", TEMPLATE, "--term", " "], "The term list is empty"),
        (["sentiment", "--terms", "age"], "sentiment has no probe of its own: give --template with one {}"),
        (["sentiment", "--template", TEMPLATE, "--terms", "age", "--calibrate", "batch"], "--calibrate applies to"),
        (["sentiment", "--template", TEMPLATE, "--terms", "age", "--samples", "0"], "samples must be between 1"),
        (["sentiment", "--template", TEMPLATE, "--samples", "3", "--scoring", "labels"], "not allowed with argument"),
        (["no-such-preset", "--template", TEMPLATE], "No preset named 'no-such-preset'"),
    ],
)
def test_bad_input_exits_2_with_one_readable_line(args, message, capsys):
    # In-process (a subprocess each would import pandas and numpy ten times); the exit path is the same.
    try:
        code = fewshot_cli.main(["probe", *args])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out = capsys.readouterr()
    assert code == 2, out.err
    assert message in out.err
    assert len(out.err.strip().splitlines()) == 1
    assert "Traceback" not in out.err and out.out == ""


def test_bad_input_from_a_real_process():
    out = cli("probe", "sentiment", "--template", "no slot", "--terms", "age")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip() == ("fewshot: error: The query template needs exactly one {} where the term goes "
                                  "(found 0), e.g. \"I'm a {} happy person\".")


def test_help_lists_the_term_sets():
    out = cli("probe", "--help")
    assert out.returncode == 0
    for word in (*probe.TERM_SETS, "--template", "--samples", "--scoring", "--calibrate", "--format", "baseline"):
        assert word in out.stdout


def test_json_prints_one_object_per_term_baseline_first(tmp_path):
    out = cli("probe", "disability-sentiment", "--term", "disabled", "--term", "tall", "--samples", "2",
              "--temperature", "0.9", "--format", "json", "--csv", str(tmp_path / "probe.csv"))
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["term"] for r in rows] == ["", "a", "disabled", "tall"]
    assert [r["baseline"] for r in rows] == [True, True, False, False]
    assert rows[2]["query"] == "I'm a disabled happy person"
    for r in rows:
        assert {"term", "distribution", "shift", "flagged", "interval", "samples"} <= set(r)
        assert abs(sum(r["distribution"].values()) - 1) < 1e-6 and r["samples"] == 2
        assert set(r["shift"]) == set(r["distribution"]) and r["seeds"] == [0, 1]
    assert not rows[0]["flagged"] and not rows[1]["flagged"]
    frame = pd.read_csv(tmp_path / "probe.csv", keep_default_na=False)
    assert frame["term"].tolist() == ["", "a", "disabled", "tall"] and "shift_negative" in frame


def test_table_by_label_scoring_with_calibration():
    out = cli("probe", "sentiment", "--template", TEMPLATE, "--term", "disabled", "--scoring", "labels",
              "--calibrate", "contextual", "--labels", "positive,negative")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:4] == ["term", "n", "positive", "negative"]
    assert lines[1].startswith('baseline ""') and lines[2].startswith('baseline "a"')
    assert lines[3].startswith("disabled")
    assert "terms flagged" in out.stdout and "calibration contextual" in out.stdout
