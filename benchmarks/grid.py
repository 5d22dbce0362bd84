"""The 8-setting grid on the embedded model: our batched engine against single-call baselines.

Side by side in one process, on one few-shot prompt of about 427 tokens (SST-2 training examples
when ../shared/data is present), 32 max new tokens, end sequence ###:

  naive       8 independent create_completion calls, each evaluating the whole prompt
  reuse       8 sequential create_completion calls; llama-cpp-python keeps the prompt cached
  engine      generate_many: prompt evaluated once, every row decoded together

plus re-runs (settings changed, query changed), aggregate decode throughput and memory.
Seeds are fixed, so the baselines and the engine sample the same texts: the run fails if they do not.

    python benchmarks/grid.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import build_prompt, peak_mb  # noqa: E402
from fewshot.backends.local import LocalBackend  # noqa: E402
from fewshot.settings import GenerationSettings  # noqa: E402


def grid(seed0: int, max_new_tokens: int = 32, stop=("###",)) -> list[GenerationSettings]:
    temps = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4]
    return [
        GenerationSettings(temperature=t, max_new_tokens=max_new_tokens, end_sequence=stop, seed=seed0 + i)
        for i, t in enumerate(temps)
    ]


# --- the baselines run in a child process with their own model ------------------------------------
# Two OpenMP thread teams in one process (the engine's worker thread and a main thread that also
# decodes) slow each other down by a third, so the baselines get a process of their own; the two
# sides take turns, never run at once.

_baseline = None


def _load_baseline(path: str, n_threads: int) -> None:
    global _baseline
    from llama_cpp import Llama

    _baseline = Llama(model_path=path, n_ctx=2048, n_threads=n_threads, n_threads_batch=n_threads, verbose=False)


def single_call(prompt: str, s: GenerationSettings) -> dict:
    return _baseline.create_completion(
        prompt, max_tokens=s.max_new_tokens, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k, min_p=0.0,
        typical_p=1.0, repeat_penalty=s.repetition_penalty, seed=s.seed, stop=list(s.end_sequence),
    )


def baseline_naive(prompt: str, settings: list[GenerationSettings]) -> tuple[float, list[str]]:
    """Independent calls: each forgets the cache and evaluates the whole prompt."""
    start, texts = time.perf_counter(), []
    for s in settings:
        _baseline.reset()
        texts.append(single_call(prompt, s)["choices"][0]["text"])
    return time.perf_counter() - start, texts


def baseline_reuse(prompt: str, settings: list[GenerationSettings]) -> float:
    """Sequential calls; llama-cpp-python keeps the prompt cached after the first."""
    _baseline.reset()
    start = time.perf_counter()
    for s in settings:
        single_call(prompt, s)
    return time.perf_counter() - start


def baseline_stream_rate(prompt: str, s: GenerationSettings) -> float:
    """Decode tokens/s of one create_completion call with the prompt already cached."""
    single_call(prompt, s)
    start = time.perf_counter()
    out = single_call(prompt, s)
    return out["usage"]["completion_tokens"] / (time.perf_counter() - start)


def run_engine(backend: LocalBackend, prompt: str, settings: list[GenerationSettings]):
    """(seconds to the first streamed token, seconds to the end, texts, tokens generated)."""
    start, first = time.perf_counter(), None
    finals = {}
    for i, c in backend.generate_many([(prompt, s) for s in settings]):
        if first is None and c.completion_tokens:
            first = time.perf_counter() - start
        if c.done:
            finals[i] = c
    total = time.perf_counter() - start
    texts = [finals[i].text for i in range(len(settings))]
    return first, total, texts, sum(c.completion_tokens for c in finals.values())


def median(values):
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    backend = LocalBackend()
    engine = backend.engine
    few_shot, other_query = build_prompt(backend)
    prompt = few_shot.render()
    n_prompt = backend.count_tokens(prompt)
    other = "Translate English to French:\nsea otter => loutre de mer\ncheese =>"
    settings = grid(seed0=1)
    print(f"prompt: {n_prompt} tokens, {len(few_shot.examples)} examples; grid: 8 temperatures 0-1.4, "
          f"max 32 new tokens, end sequence ###; {backend.n_threads} threads; median of {args.repeat}")

    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1, initializer=_load_baseline, initargs=(str(backend.path), backend.n_threads)) as pool:
        naive, reuse, cold, texts_naive, texts_engine = [], [], [], None, None
        for _ in range(args.repeat):
            seconds, texts_naive = pool.apply(baseline_naive, (prompt, settings))
            naive.append(seconds)
            reuse.append(pool.apply(baseline_reuse, (prompt, settings)))
            run_engine(backend, other, settings[:1])  # replace the engine's cached prefix
            _, total, texts_engine, _ = run_engine(backend, prompt, settings)
            cold.append(total)

        same = texts_naive == texts_engine
        print("\n8-setting grid, cold (prompt not cached)")
        print(f"  naive: 8 calls, fresh prompt each   {median(naive):6.2f} s")
        print(f"  reuse: 8 calls, prompt cached       {median(reuse):6.2f} s")
        print(f"  engine: prompt once, rows batched   {median(cold):6.2f} s   "
              f"{median(naive) / median(cold):.1f}x faster than naive (goal >= 5x), "
              f"{median(reuse) / median(cold):.2f}x faster than reuse (goal > 1x)")
        print(f"  same texts as the single calls: {'yes' if same else 'NO'}")
        if not same:  # a speed figure for different output means nothing: fail the run, show the rows
            for i, (a, b) in enumerate(zip(texts_naive, texts_engine, strict=True)):
                if a != b:
                    print(f"  row {i}: single call {a!r}\n         engine      {b!r}")
            sys.exit("benchmarks/grid.py: the engine's texts differ from the single calls' (see above)")

        # Re-runs: the engine keeps the evaluated prompt in sequence 0.
        rerun_first, rerun_total, rerun_eval = [], [], []
        query_first, query_eval = [], []
        changed = few_shot.model_copy(update={"query": other_query}).render()
        for k in range(args.repeat):
            run_engine(backend, prompt, settings)
            before = engine.evaluated
            first, total, _, _ = run_engine(backend, prompt, grid(seed0=100 + 10 * k))
            rerun_first.append(first)
            rerun_total.append(total)
            rerun_eval.append(engine.evaluated - before)
            before = engine.evaluated
            first, _, _, _ = run_engine(backend, changed, settings)
            query_first.append(first)
            query_eval.append(engine.evaluated - before)
        query_tokens = len(backend.tokenize(changed)) - _shared(backend.tokenize(prompt), backend.tokenize(changed))
        print("\nre-runs")
        print(f"  settings changed: {median(rerun_eval):.0f} prompt tokens evaluated (goal 0); "
              f"first token {median(rerun_first):.3f} s, done {median(rerun_total):.2f} s")
        print(f"  query changed:    {median(query_eval):.0f} prompt tokens evaluated ({query_tokens} tokens differ); "
              f"first token {median(query_first):.3f} s (goal <= 0.3 s)")

        # Decode throughput: no end sequence, 64 tokens per row, prompt already cached; interleaved.
        long = grid(seed0=7, max_new_tokens=64, stop=())
        single, engine_one, batched = [], [], []
        run_engine(backend, prompt, long[:1])
        for _ in range(2 * args.repeat + 1):
            single.append(pool.apply(baseline_stream_rate, (prompt, long[4])))
            _, total, _, tokens = run_engine(backend, prompt, long[4:5])
            engine_one.append(tokens / total)
            _, total, _, tokens = run_engine(backend, prompt, long)
            batched.append(tokens / total)
    print("\ndecode throughput (prompt cached, 64 tokens a row)")
    print(f"  single stream, create_completion   {median(single):6.1f} tokens/s")
    print(f"  single stream, engine (1 row)      {median(engine_one):6.1f} tokens/s")
    print(f"  engine, 8 rows                     {median(batched):6.1f} tokens/s   "
          f"{median(batched) / median(single):.2f}x create_completion, "
          f"{median(batched) / median(engine_one):.2f}x the engine's own single row (goal >= 1.6x)")
    print(f"\npeak memory of this process (model + engine, 8 rows): {peak_mb():.0f} MB")


def _shared(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


if __name__ == "__main__":
    main()
