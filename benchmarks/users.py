"""8 concurrent users, each a 3-column grid of 48 tokens on their own query, through one shared backend.

Side by side in one run, each repetition with fresh queries (SST-2 dev texts in the sentiment
preset's few-shot prompt; temperatures 0 / 0.7 / 1.0, fixed seeds, no end sequence):

  alone       one user's grid
  one by one  8 users' grids one after another (what a server without batching does)
  together    8 users at once, from 8 threads, through the one LocalBackend
  bound       every llama.cpp call the engine made in "together" (decodes and KV-cache copies),
              replayed raw in a child process: the time of the decodes alone is the limit

Goals (issue 12): together within 1.15× of the bound and ≥ 1.5× faster than one by one.

    python benchmarks/users.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import llama_cpp.llama_cpp as C  # noqa: E402

from benchmarks.common import DATA  # noqa: E402
from fewshot import presets  # noqa: E402
from fewshot.backends.local import LocalBackend  # noqa: E402
from fewshot.settings import GenerationSettings  # noqa: E402

USERS = 8
TOKENS = 48
COLUMNS = [GenerationSettings(temperature=t, max_new_tokens=TOKENS, end_sequence=(), seed=11 + i)
           for i, t in enumerate((0.0, 0.7, 1.0))]


def queries(n: int) -> list[str]:
    if (DATA / "sst2_dev.csv").exists():
        with open(DATA / "sst2_dev.csv", newline="") as f:
            return [r["text"] for r in csv.DictReader(f)][:n]
    return [f"Review number {i}: it was fine, I suppose." for i in range(n)]


def grid(backend: LocalBackend, prompt: str) -> int:
    finals = [c for _, c in backend.generate_many([(prompt, s) for s in COLUMNS]) if c.done]
    assert len(finals) == len(COLUMNS) and not any(c.error for c in finals), finals
    return sum(c.completion_tokens for c in finals)


def together(backend: LocalBackend, prompts: list[str]) -> float:
    barrier = threading.Barrier(len(prompts) + 1)
    errors: list[BaseException] = []

    def user(prompt):
        barrier.wait()
        try:
            grid(backend, prompt)
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=user, args=(p,)) for p in prompts]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start


# --- recording the engine's llama.cpp calls, and replaying them raw ---------------------------------


class Recorder:
    """Wraps the llama.cpp functions the engine calls and logs decodes and sequence operations."""

    NAMES = ("llama_decode", "llama_memory_seq_cp", "llama_memory_seq_rm")

    def __init__(self) -> None:
        self.ops: list[tuple] = []
        self.real = {name: getattr(C, name) for name in self.NAMES}

    def __enter__(self):
        real = self.real

        def decode(ctx, batch):
            items = [(batch.token[i], batch.pos[i], batch.seq_id[i][0], bool(batch.logits[i]))
                     for i in range(batch.n_tokens)]
            self.ops.append(("decode", items))
            return real["llama_decode"](ctx, batch)

        C.llama_decode = decode
        C.llama_memory_seq_cp = lambda mem, *a: self.ops.append(("cp", a)) or real["llama_memory_seq_cp"](mem, *a)
        C.llama_memory_seq_rm = lambda mem, *a: self.ops.append(("rm", a)) or real["llama_memory_seq_rm"](mem, *a)
        return self

    def __exit__(self, *exc) -> None:
        for name, fn in self.real.items():
            setattr(C, name, fn)


_raw: dict = {}


def _raw_init(path: str, threads: int, seq_len: int) -> None:
    from llama_cpp import Llama

    llm = Llama(model_path=path, n_ctx=256, n_threads=threads, verbose=False)
    params = C.llama_context_default_params()
    params.n_seq_max = 9
    params.n_ctx = 9 * seq_len
    params.n_batch = params.n_ubatch = 512
    params.n_threads = params.n_threads_batch = threads
    params.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_DISABLED
    params.kv_unified = False
    params.no_perf = True
    _raw.update(llm=llm, ctx=C.llama_init_from_model(llm._model.model, params), batch=C.llama_batch_init(512, 0, 1))


def replay(prefix: list[tuple], ops: list[tuple]) -> float:
    """Run `prefix` (the state before the measured run) untimed, then `ops`; seconds spent in llama_decode."""
    ctx, batch = _raw["ctx"], _raw["batch"]
    mem = C.llama_get_memory(ctx)
    C.llama_memory_clear(mem, True)
    seconds = 0.0
    for timed, run in ((False, prefix), (True, ops)):
        for kind, args in run:
            if kind == "cp":
                C.llama_memory_seq_cp(mem, *args)
            elif kind == "rm":
                C.llama_memory_seq_rm(mem, *args)
            else:
                batch.n_tokens = len(args)
                for i, (token, pos, seq, logits) in enumerate(args):
                    batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, pos, 1, logits
                    batch.seq_id[i][0] = seq
                start = time.perf_counter()
                assert C.llama_decode(ctx, batch) == 0
                seconds += (time.perf_counter() - start) * timed
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    backend = LocalBackend()
    base = presets.find("sentiment").prompt
    pool_of_queries = queries(USERS * 2 * args.repeat + 2)
    prompts = [base.model_copy(update={"query": q}).render() for q in pool_of_queries]
    print(f"{backend.model_label}; {backend.n_threads} decode / {backend.n_threads_batch} prompt threads; "
          f"{USERS} users × {len(COLUMNS)} columns × {TOKENS} tokens; "
          f"prompt ≈ {backend.count_tokens(prompts[0])} tokens")
    with Recorder() as warm:  # the engine's state before a measured run: sequence 0 holds the shared prefix
        grid(backend, prompts[-1])
    engine = backend.engine
    spawn = multiprocessing.get_context("spawn")
    rows = []
    with spawn.Pool(1, initializer=_raw_init, initargs=(str(backend.path), backend.n_threads, engine.seq_len)) as pool:
        for r in range(args.repeat):
            mine = prompts[r * 2 * USERS : (r + 1) * 2 * USERS]
            start = time.perf_counter()
            grid(backend, mine[0])
            alone = time.perf_counter() - start
            start = time.perf_counter()
            for p in mine[:USERS]:
                grid(backend, p)
            one_by_one = time.perf_counter() - start
            grid(backend, prompts[-1])  # the same starting state as the warm-up recorded
            with Recorder() as rec:
                both = together(backend, mine[USERS:])
            time.sleep(0.3)
            bound = pool.apply(replay, (warm.ops, rec.ops))
            rows.append((alone, one_by_one, both, bound, sum(op[0] == "decode" for op in rec.ops)))
            print(f"  run {r + 1}: alone {alone:.2f} s, one by one {one_by_one:.2f} s, together {both:.2f} s "
                  f"({sum(op[0] == 'decode' for op in rec.ops)} decodes), raw decodes {bound:.2f} s", flush=True)
    print("\n| run | one user alone | 8 users one by one | 8 users together | raw llama_decode of the same batches "
          "| together ÷ bound (goal ≤ 1.15) | one by one ÷ together (goal ≥ 1.5) | together ÷ alone |")
    print("|---|---|---|---|---|---|---|---|")
    for i, (alone, seq, both, bound, _) in enumerate(rows, 1):
        print(f"| {i} | {alone:.2f} s | {seq:.2f} s | {both:.2f} s | {bound:.2f} s | **{both / bound:.2f}×** "
              f"| **{seq / both:.2f}×** | {both / alone:.2f}× |")


if __name__ == "__main__":
    main()
