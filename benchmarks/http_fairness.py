"""Does a long sweep against a one-request-at-a-time endpoint starve other users? Ours vs the old design.

Two users each run a 64-row sweep against their own endpoint that takes one request at a time (as
llama_cpp.server does) and answers after LATENCY ms; meanwhile a third user runs 2 rows on a
healthy endpoint. Measured: how long the third user waits for its 2 rows.

- baseline (the design before issue 13): every row is submitted to the shared 64-thread pool at
  once and waits for its endpoint's semaphore inside its thread, so the sweeps' waiting rows fill
  the pool and the third user's rows queue behind them;
- ours: rows wait for their endpoint's Gate in a queue and take a thread only once admitted.

Both run in this process, side by side, against the test suite's replay server (127.0.0.1).

    python benchmarks/http_fairness.py [--latency 150] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fewshot import presets  # noqa: E402
from fewshot.backends import http  # noqa: E402
from fewshot.backends.tgi import TGIBackend  # noqa: E402
from fewshot.settings import GenerationSettings  # noqa: E402
from tests.replay_server import ReplayServer  # noqa: E402

PROMPT = presets.find("sentiment").prompt
GREEDY = GenerationSettings(temperature=0, max_new_tokens=8)
SWEEP = 64


def baseline(sweeps: list[TGIBackend], other: TGIBackend) -> float:
    """The old design: all rows into one 64-thread pool, each blocking on its endpoint's semaphore there."""
    pool = ThreadPoolExecutor(http.SHARED_THREADS)
    stop = http.StopFlag()
    gates = {id(b): threading.BoundedSemaphore(1) for b in sweeps} | {id(other): threading.BoundedSemaphore(8)}

    def row(backend: TGIBackend) -> None:
        with gates[id(backend)]:
            *_, last = backend._send(PROMPT, GREEDY, stop)
            assert stop.is_set() or not last.error, last.error

    for backend in sweeps:
        for _ in range(SWEEP):
            pool.submit(row, backend)
    time.sleep(0.05)  # the sweeps' first requests are in flight
    start = time.perf_counter()
    wait([pool.submit(row, other) for _ in range(2)])
    waited = time.perf_counter() - start
    stop.set()  # Stop the sweeps: their queued rows end at once
    pool.shutdown(wait=True, cancel_futures=True)
    return waited


def ours(sweeps: list[TGIBackend], other: TGIBackend) -> float:
    cancel = threading.Event()
    threads = [threading.Thread(target=lambda b=b: list(b.generate_many([(PROMPT, GREEDY)] * SWEEP, cancel)))
               for b in sweeps]
    for thread in threads:
        thread.start()
    time.sleep(0.05)
    start = time.perf_counter()
    finals = [c for _, c in other.generate_many([(PROMPT, GREEDY)] * 2) if c.done]
    waited = time.perf_counter() - start
    assert len(finals) == 2 and not any(c.error for c in finals)
    cancel.set()
    for thread in threads:
        thread.join()
    return waited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=int, default=150, help="milliseconds before each sweep answer")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with ReplayServer() as server:
        def make(spec: str, limit: int) -> TGIBackend:
            backend = TGIBackend(server.scenario(spec), max_concurrency=limit)
            backend.prepare()  # the /info probe is not part of the measurement
            return backend

        sweeps = [make(f"latency={args.latency},user{i}", 1) for i in (1, 2)]
        other = make("ok", 8)
        print(f"2 users x {SWEEP}-row sweep on one-at-a-time endpoints ({args.latency} ms per request); "
              f"a third user's 2 rows on a healthy endpoint; median of {args.repeat}")
        old = [baseline(sweeps, other) for _ in range(args.repeat)]
        new = [ours(sweeps, other) for _ in range(args.repeat)]
        old_s, new_s = statistics.median(old), statistics.median(new)
        print(f"third user's wait   baseline {old_s:8.3f} s   ours {new_s:8.3f} s   ratio {old_s / new_s:8.1f}x")
        print(f"  runs: baseline {', '.join(f'{v:.3f}' for v in old)}; ours {', '.join(f'{v:.3f}' for v in new)}")


if __name__ == "__main__":
    main()
