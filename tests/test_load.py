"""Load through the public API (benchmarks/load.py, kept small here): concurrent gradio_client clients
each running a 3-column grid on the embedded model, then runs in a row. All complete, each client gets
only its own query's completions, and the server's memory stays bounded and flat. Loopback only; every
run has a time-out (benchmarks.load.RUN_TIMEOUT), so a hang fails instead of waiting forever."""

import pytest

from benchmarks.load import WORDS, App, concurrent, in_a_row, problems, rss_mb
from tests.conftest import ARTIFACTS

CLIENTS, RUNS = 4, 10
PEAK_MB = 1024  # the app with the 135M model resident is ~400 MB here; a leak per run would cross this
GROWTH_MB = 32  # first two runs' mean to the last two's: allocator noise is a few MB


@pytest.fixture(scope="module")
def app():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with App(ARTIFACTS / "load_app.log") as running:
        yield running


def test_concurrent_clients_each_get_their_own_completions(app):
    words = WORDS[:CLIENTS]
    together = concurrent(app.url, words)
    assert together.errors == {}
    assert sorted(together.finals) == sorted(words)
    assert [p for w, f in together.finals.items() for p in problems(w, f, words)] == []


def test_runs_in_a_row_complete_with_memory_bounded_and_flat(app):
    row = in_a_row(app.url, app.proc.pid, RUNS)
    assert row.bad == [] and row.failed == 0
    assert len(row.rss) == RUNS and row.peak < PEAK_MB, row.rss
    assert row.growth < GROWTH_MB, row.rss
    assert rss_mb(app.proc.pid) < PEAK_MB
