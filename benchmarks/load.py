"""Load through the public API: concurrent gradio_client clients, then many runs in a row.

Starts `python app.py` on 127.0.0.1 and calls its `run` endpoint. Each client's preset is a 3-column
grid (temperature 0, 0.3, 0.6) on the embedded model that copies one word, a different word per client,
so a completion that reached the wrong client shows: it holds another client's word.

1. `--clients` clients at once, each on its own connection (session), each running its grid.
   Baseline, in the same run: the same grids one after another on one client. Printed: both wall
   times and the ratio (what concurrency buys when the engine decodes users' rows together).
2. `--runs` runs in a row on one client: every run's seconds and the server's resident memory (VmRSS)
   after it, its peak (VmHWM), and the growth from the first tenth of the runs to the last.

    python benchmarks/load.py [--clients 8] [--runs 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import free_port, peak_mb  # noqa: E402

WORDS = ("lemon", "violet", "tiger", "copper", "maple", "orbit", "pepper", "walrus", "falcon", "cobalt",
         "saffron", "glacier")
TEMPERATURES = (0.0, 0.3, 0.6)
RUN_TIMEOUT = 300  # seconds one run may take under load before it counts as hung


def preset_for(word: str) -> dict:
    """A 3-column grid whose right answer is `word` itself."""
    examples = [{"input": w, "output": w} for w in ("apple", "river", "candle", "window")]
    return {"name": f"load {word}", "task": "Repeat the word exactly.", "examples": examples, "query": word,
            "template": {"input_prefix": "Word: ", "output_prefix": "\nRepeat: ", "separator": "\n###\n"},
            "columns": [{"temperature": t, "max_new_tokens": 4, "end_sequence": ["###", "\n"], "seed": 7}
                        for t in TEMPERATURES]}


def problems(word: str, final: Sequence[dict], words: Sequence[str]) -> list[str]:
    """What is wrong with a client's last completions: missing, failed, or another client's."""
    out = []
    if [c["column"] for c in final] != [1, 2, 3]:
        out.append(f"{word}: columns {[c['column'] for c in final]}")
    for c in final:
        if not c["done"] or c["error"]:
            out.append(f"{word} column {c['column']}: not done ({c['error']})")
        if others := [w for w in words if w != word and w in c["text"].lower()]:
            out.append(f"{word} column {c['column']}: got another client's answer {c['text']!r} ({others})")
    if final and final[0]["text"].strip().lower() != word:  # greedy: the word, copied (it may capitalise it)
        out.append(f"{word}: the greedy column answered {final[0]['text']!r}")
    return out


def rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of a process now, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class App:
    """`python app.py` on a free loopback port, with presets in a temporary folder; a context manager."""

    def __init__(self, log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.folder = tempfile.TemporaryDirectory(prefix="fewshot-load-")
        env = {**os.environ, "GRADIO_SERVER_PORT": str(self.port), "GRADIO_ANALYTICS_ENABLED": "False",
               "GRADIO_SERVER_NAME": "127.0.0.1", "FEWSHOT_PRESETS_DIR": self.folder.name,
               "FEWSHOT_FLAG_DIR": self.folder.name}
        out = log.open("w") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=out,
                                     stderr=subprocess.STDOUT)

    def __enter__(self) -> App:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited with code {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise TimeoutError("the app did not answer within 180 s")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.folder.cleanup()


def client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def run_once(api, word: str) -> list[dict]:
    """One run of `word`'s grid; its last (complete) list of completions."""
    return api.submit(preset=preset_for(word), query="", api_name="/run").result(timeout=RUN_TIMEOUT)


@dataclass(frozen=True)
class Concurrent:
    seconds: float
    finals: dict[str, list[dict]]  # word -> that client's last completions
    errors: dict[str, str]  # word -> what its run raised


def concurrent(url: str, words: Sequence[str]) -> Concurrent:
    """Every word's grid at once, each from its own client (connected before the clock starts)."""
    clients = {w: client(url) for w in words}
    finals: dict[str, list[dict]] = {}
    errors: dict[str, str] = {}
    start = threading.Barrier(len(words) + 1)

    def one(word: str) -> None:
        start.wait()
        try:
            finals[word] = run_once(clients[word], word)
        except Exception as exc:  # reported per client; the others go on
            errors[word] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=one, args=(w,)) for w in words]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(RUN_TIMEOUT + 30)
    return Concurrent(time.perf_counter() - t0, finals, errors)


def serial(url: str, words: Sequence[str]) -> tuple[float, dict[str, list[dict]]]:
    """The baseline: the same grids one after another on one client."""
    api = client(url)
    t0 = time.perf_counter()
    finals = {w: run_once(api, w) for w in words}
    return time.perf_counter() - t0, finals


@dataclass(frozen=True)
class InARow:
    seconds: list[float]
    rss: list[float]  # MB after each run
    peak: float  # VmHWM at the end, MB
    bad: list[str]  # every problem, each naming its word
    failed: int  # runs with at least one problem

    @property
    def growth(self) -> float:
        """MB from the mean of the first tenth of the runs (at least 2) to the mean of the last tenth."""
        k = max(2, len(self.rss) // 10)
        return statistics.mean(self.rss[-k:]) - statistics.mean(self.rss[:k])


def in_a_row(url: str, pid: int, runs: int, words: Sequence[str] = WORDS) -> InARow:
    api = client(url)
    seconds, rss, bad, failed = [], [], [], 0
    for i in range(runs):
        word = words[i % len(words)]
        t0 = time.perf_counter()
        final = run_once(api, word)
        seconds.append(time.perf_counter() - t0)
        rss.append(rss_mb(pid))
        found = problems(word, final, words)
        bad += found
        failed += bool(found)
    return InARow(seconds, rss, peak_mb(pid), bad, failed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    words = WORDS[: args.clients]
    with App() as app:
        run_once(client(app.url), WORDS[-1])  # warm-up: the model loads on the first run
        idle = rss_mb(app.proc.pid)
        print(f"app on {app.url}, warmed up: {idle:.0f} MB resident")
        together = concurrent(app.url, words)
        alone, serial_finals = serial(app.url, words)
        bad = [p for w, f in together.finals.items() for p in problems(w, f, words)]
        bad += [f"{w}: {e}" for w, e in together.errors.items()]
        bad += [f"baseline {p}" for w, f in serial_finals.items() for p in problems(w, f, words)]
        print(f"{len(words)} clients at once, 3 columns each: {len(together.finals)}/{len(words)} complete, "
              f"{len(bad)} problems, {together.seconds:.1f} s")
        print(f"the same {len(words)} grids one after another (baseline): {alone:.1f} s")
        print(f"ratio, one after another / at once: {alone / together.seconds:.2f}x")
        for p in bad:
            print("  problem:", p)
        row = in_a_row(app.url, app.proc.pid, args.runs)
        s = row.seconds
        print(f"{args.runs} runs in a row: {args.runs - row.failed} clean, "
              f"{statistics.mean(s):.2f} ± {statistics.stdev(s) if len(s) > 1 else 0:.2f} s per run "
              f"(min {min(s):.2f}, max {max(s):.2f})")
        print(f"resident memory after each run: first {row.rss[0]:.0f} MB, last {row.rss[-1]:.0f} MB, "
              f"min {min(row.rss):.0f}, max {max(row.rss):.0f}; growth first→last tenth {row.growth:+.1f} MB; "
              f"peak (VmHWM) {row.peak:.0f} MB")
        for p in row.bad:
            print("  problem:", p)


if __name__ == "__main__":
    main()
