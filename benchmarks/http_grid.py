"""An 8-setting grid against an HTTP backend with 300 ms latency per request: concurrent vs sequential.

The server is the test suite's replay server (the documented TGI / OpenAI / Ollama / chat shapes),
started in this process, answering every request after 300 ms. For each protocol: the slowest of
the 8 requests made one at a time, their sequential total (what a playground that calls one setting
after another waits), and the wall time of our concurrent grid.

    python benchmarks/http_grid.py [--latency 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fewshot import presets  # noqa: E402
from fewshot.backends import remote_class  # noqa: E402
from fewshot.settings import GenerationSettings  # noqa: E402
from tests.replay_server import ReplayServer  # noqa: E402

KINDS = ("tgi", "openai", "ollama", "chat")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=int, default=300, help="milliseconds before each answer")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    prompt = presets.find("sentiment").prompt
    grid = [GenerationSettings(temperature=t, max_new_tokens=16, seed=i)
            for i, t in enumerate((0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4))]
    print(f"8 settings, {args.latency} ms latency per request, median of {args.repeat}")
    print(f"{'protocol':<8} {'slowest single':>15} {'sequential':>11} {'concurrent':>11} {'ratio':>7} {'speed-up':>9}")
    with ReplayServer() as server:
        url = server.scenario(f"latency={args.latency}")
        for kind in KINDS:
            backend = remote_class(kind)(url, model="replay")
            backend.prepare()  # server probes (model lists) are not part of a run
            singles, sequential, concurrent = [], [], []
            for _ in range(args.repeat):
                durations = []
                for s in grid:
                    start = time.perf_counter()
                    *_, last = backend.stream(prompt, s)
                    assert not last.error, last.error
                    durations.append(time.perf_counter() - start)
                singles.append(max(durations))
                sequential.append(sum(durations))
                start = time.perf_counter()
                finals = [c for _, c in backend.generate_many([(prompt, s) for s in grid]) if c.done]
                concurrent.append(time.perf_counter() - start)
                assert len(finals) == 8 and not any(c.error for c in finals)
            slowest, seq, wall = (statistics.median(v) for v in (singles, sequential, concurrent))
            print(f"{kind:<8} {slowest:>13.3f} s {seq:>9.3f} s {wall:>9.3f} s {wall / slowest:>6.2f}x "
                  f"{seq / wall:>8.1f}x")
    print("ratio = concurrent wall time / slowest single request (goal <= 1.3x)")


if __name__ == "__main__":
    main()
