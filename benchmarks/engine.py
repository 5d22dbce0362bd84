"""Engine speed per weight format, next to raw llama.cpp, and label-scoring accuracy and rows/s.

Three parts (all by default; pick with --parts):

  speed     prompt tok/s (one 512-token batch) and aggregate decode tok/s at 1 / 8 / 24 rows
            (positions ~450) for the shipped Q4_1 file and its Q8_0 / Q4_0 conversions: raw
            llama_decode of the same batches (a child process, taking turns) against the engine
            (greedy rows, and sampled rows through llama.cpp's sampler chains). The engine has 8
            sequences, so 24 rows run as three waves of 8; the raw side runs the same 8-row batches.
  scoring   label-scoring rows/s on SST-2 dev at 4 shots: today's engine (git c08ca75) on the shipped
            Q4_1 file ("before") against this engine on each conversion ("after"), interleaved.
  accuracy  SST-2 dev label scoring, batch calibration, 4 and 8 shots, 3 draws of demonstrations from
            sst2_train (never from the rows scored), mean ± std per format, next to the majority class.

Timings on a shared 2-core machine are noisy: each figure is a range over --repeat interleaved runs.

    python benchmarks/engine.py [--parts speed,scoring,accuracy] [--repeat 3] [--rows 300]
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.common import DATA, TASK, TEMPLATE  # noqa: E402
from fewshot import calibrate, evaluate  # noqa: E402
from fewshot.backends.local import LocalBackend, load_model  # noqa: E402
from fewshot.prompt import Example, FewShotPrompt  # noqa: E402
from fewshot.settings import GenerationSettings  # noqa: E402

FORMATS = ("original", "Q8_0", "Q4_0")  # "original" = the shipped Q4_1 file
BEFORE = "c08ca75"  # the engine before issue 12
POSITION = 450  # decode measured at about this many tokens of context, as in the table
STEPS = 48  # decode steps per measurement


def fmt_range(values, digits=0) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.{digits}f}" if round(lo, digits) == round(hi, digits) else f"{lo:.{digits}f}–{hi:.{digits}f}"


# --- raw llama.cpp, in a child process ----------------------------------------------------------

_raw: dict = {}


def _raw_init(paths: list[str], threads: int) -> None:
    import llama_cpp.llama_cpp as C
    from llama_cpp import Llama

    for path in paths:
        llm = Llama(model_path=path, n_ctx=256, n_threads=threads, verbose=False)
        params = C.llama_context_default_params()
        params.n_seq_max = 9
        params.n_ctx = 9 * 1024
        params.n_batch = params.n_ubatch = 512
        params.n_threads = params.n_threads_batch = threads
        params.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_DISABLED  # as the engine
        params.kv_unified = False
        params.no_perf = True
        ctx = C.llama_init_from_model(llm._model.model, params)
        _raw[path] = (llm, ctx, C.llama_batch_init(512, 0, 1))


def _fill(batch, items) -> None:
    batch.n_tokens = len(items)
    for i, (token, pos, seq, logits) in enumerate(items):
        batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, pos, 1, logits
        batch.seq_id[i][0] = seq


def raw_prompt(path: str, tokens: list[int]) -> float:
    """Seconds for one llama_decode of `tokens` on an empty sequence."""
    import llama_cpp.llama_cpp as C

    _, ctx, batch = _raw[path]
    C.llama_memory_clear(C.llama_get_memory(ctx), True)
    _fill(batch, [(t, i, 0, i == len(tokens) - 1) for i, t in enumerate(tokens)])
    start = time.perf_counter()
    assert C.llama_decode(ctx, batch) == 0
    return time.perf_counter() - start


def raw_decode(path: str, prompt: list[int], rows: int, steps: int) -> float:
    """Seconds for `steps` llama_decode calls of one token in each of `rows` sequences (1..rows),
    each sequence holding `prompt` first: the batches the engine decodes, without the engine."""
    import llama_cpp.llama_cpp as C

    _, ctx, batch = _raw[path]
    mem = C.llama_get_memory(ctx)
    C.llama_memory_clear(mem, True)
    for start in range(0, len(prompt), 512):
        chunk = prompt[start : start + 512]
        _fill(batch, [(t, start + i, 0, False) for i, t in enumerate(chunk)])
        assert C.llama_decode(ctx, batch) == 0
    for seq in range(1, rows + 1):
        C.llama_memory_seq_cp(mem, 0, seq, -1, -1)
    rng = random.Random(0)
    seconds = 0.0
    for step in range(steps):
        _fill(batch, [(rng.randrange(1000, 40000), len(prompt) + step, seq, True) for seq in range(1, rows + 1)])
        start = time.perf_counter()
        assert C.llama_decode(ctx, batch) == 0
        seconds += time.perf_counter() - start
    return seconds


# --- the engine, in this process ----------------------------------------------------------------


def engine_decode(backend: LocalBackend, prompt: str, rows: int, steps: int, sampled: bool) -> tuple[float, int]:
    """(seconds, tokens) for `rows` rows of `steps` new tokens each, the prompt already cached."""
    settings = [
        GenerationSettings(temperature=0.8 if sampled else 0.0, max_new_tokens=steps, end_sequence=(), seed=i)
        for i in range(rows)
    ]
    list(backend.generate_many([(prompt, settings[0].model_copy(update={"max_new_tokens": 1}))]))  # cache it
    start = time.perf_counter()
    finals = [c for _, c in backend.generate_many([(prompt, s) for s in settings]) if c.done]
    return time.perf_counter() - start, sum(c.completion_tokens for c in finals)


def speed(args, backends: dict[str, LocalBackend], pool) -> None:
    any_backend = next(iter(backends.values()))
    text = (DATA / "sst2_train.csv").read_text()[:20000] if (DATA / "sst2_train.csv").exists() else "word " * 4000
    tokens = any_backend.tokenize(text)
    prompt_tokens = tokens[1:513]
    decode_prompt = any_backend.llm.detokenize(tokens[1:POSITION]).decode("utf-8", "ignore")
    decode_tokens = any_backend.tokenize(decode_prompt)
    print(f"\n## speed: prompt = one batch of {len(prompt_tokens)} tokens; decode = {STEPS} new tokens a row after "
          f"{len(decode_tokens)} prompt tokens; {any_backend.n_threads} threads; {args.repeat} interleaved runs")
    results: dict = {}
    for _ in range(args.repeat):
        for name, backend in backends.items():
            path = str(backend.path)
            r = results.setdefault(name, {})
            r.setdefault("raw prompt", []).append(len(prompt_tokens) / pool.apply(raw_prompt, (path, prompt_tokens)))
            time.sleep(0.3)  # let the other process's threads go idle
            start = time.perf_counter()
            first = prompt_tokens[0] + 1 + len(r["raw prompt"])  # a new first token: nothing cached
            list(backend.engine.generate([_request([first, *prompt_tokens[1:]])]))
            r.setdefault("engine prompt", []).append(len(prompt_tokens) / (time.perf_counter() - start))
            for rows in (1, 8, 24):
                waves = [min(8, rows - w) for w in range(0, rows, 8)]
                raw = sum(pool.apply(raw_decode, (path, decode_tokens, k, STEPS)) for k in waves)
                r.setdefault(f"raw {rows}", []).append(rows * STEPS / raw)
                time.sleep(0.3)
                for sampled in (False, True):
                    seconds, n = engine_decode(backend, decode_prompt, rows, STEPS, sampled)
                    r.setdefault(f"engine {rows} {'sampled' if sampled else 'greedy'}", []).append(n / seconds)
                time.sleep(0.3)
                print(f"  {name} {rows} rows: raw {r[f'raw {rows}'][-1]:.1f}, engine greedy "
                      f"{r[f'engine {rows} greedy'][-1]:.1f}, sampled {r[f'engine {rows} sampled'][-1]:.1f} tok/s "
                      f"(prompt raw {r['raw prompt'][-1]:.0f}, engine {r['engine prompt'][-1]:.0f} tok/s)", flush=True)
    shipped = results["original"]
    print("| weights | prompt tok/s raw / engine | decode 1 row raw / greedy / sampled | 8 rows raw / greedy / sampled "
          "| 24 rows (3 × 8) raw / greedy / sampled | 8 rows ÷ 1 row (engine, greedy) |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        cells = [f"{fmt_range(r['raw prompt'])} / **{fmt_range(r['engine prompt'])}**"]
        for rows in (1, 8, 24):
            cells.append(" / ".join([fmt_range(r[f"raw {rows}"]), fmt_range(r[f"engine {rows} greedy"]),
                                     fmt_range(r[f"engine {rows} sampled"])]))
        scaling = [a / b for a, b in zip(r["engine 8 greedy"], r["engine 1 greedy"], strict=True)]
        cells.append(f"{fmt_range(scaling, 2)}×")
        label = "Q4_1 (shipped)" if name == "original" else name
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\nratios (engine ÷ raw llama_decode of the same batches; goal ≥ 0.91, i.e. within 10 %):")
    for name, r in results.items():
        parts = [f"prompt {fmt_range([e / w for e, w in zip(r['engine prompt'], r['raw prompt'], strict=True)], 2)}"]
        for rows in (1, 8, 24):
            for kind in ("greedy", "sampled"):
                ratio = [e / w for e, w in zip(r[f"engine {rows} {kind}"], r[f"raw {rows}"], strict=True)]
                parts.append(f"{rows} {kind} {fmt_range(ratio, 2)}")
        print(f"  {name:8s} " + ", ".join(parts))
    for name, r in results.items():
        if name != "original":
            gain = [a / b for a, b in zip(r["engine prompt"], shipped["engine prompt"], strict=True)]
            print(f"  prompt tok/s, engine on {name} ÷ engine on shipped Q4_1: {fmt_range(gain, 2)}× (goal ≥ 1.9×)")


def _request(tokens):
    from fewshot.engine import Request

    return Request(tokens, GenerationSettings(temperature=0, max_new_tokens=1, end_sequence=()))


# --- label scoring ------------------------------------------------------------------------------


class _Scorer(LocalBackend):
    """A LocalBackend on a given engine (the old one for "before")."""

    engine = None


def _old_engine_module():
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{BEFORE}:fewshot/engine.py"], check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "engine_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("fewshot._engine_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def draw_prompt(train, shots: int, seed: int) -> FewShotPrompt:
    rows = train.sample(n=shots, random_state=seed)
    return FewShotPrompt(task=TASK, examples=tuple(Example(input=r.text, output=r.label) for r in rows.itertuples()),
                         template=TEMPLATE)


def scoring(args, backends: dict[str, LocalBackend]) -> None:
    train = evaluate.read_labelled(DATA / "sst2_train.csv")
    dev = evaluate.read_labelled(DATA / "sst2_dev.csv", limit=args.scoring_rows)
    prompt = draw_prompt(train, 4, 0)
    labels = ["negative", "positive"]
    shipped = backends["original"]
    old = _Scorer(shipped.path)
    old.engine = _old_engine_module().Engine(shipped.llm, n_threads=shipped.n_threads, max_seq_len=shipped.n_ctx)
    sides = {"before: old engine, Q4_1": old} | {f"after: engine, {n if n != 'original' else 'Q4_1'}": b
                                                 for n, b in backends.items()}
    print(f"\n## label scoring, SST-2 dev first {len(dev)} rows, 4 shots, 2 labels; {args.repeat} interleaved runs")
    rates: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        for name, scorer in sides.items():
            start = time.perf_counter()
            evaluate.label_probabilities(scorer, prompt, list(dev["text"]), labels)
            rates.setdefault(name, []).append(len(dev) / (time.perf_counter() - start))
    base = rates["before: old engine, Q4_1"]
    for name, r in rates.items():
        print(f"  {name:28s} {fmt_range(r, 1)} rows/s   {fmt_range([a / b for a, b in zip(r, base, strict=True)], 2)}×")
    old.engine.close()


def accuracy(args, backends: dict[str, LocalBackend]) -> None:
    train = evaluate.read_labelled(DATA / "sst2_train.csv")
    dev = evaluate.read_labelled(DATA / "sst2_dev.csv", limit=args.rows)
    labels = ["negative", "positive"]
    majority = dev["label"].value_counts(normalize=True).max()
    print(f"\n## accuracy: SST-2 dev first {len(dev)} rows (majority class {majority:.3f}); demonstrations "
          "drawn from sst2_train (seeds 0, 1, 2); batch calibration")
    print("| weights | 4 shots | 8 shots |\n|---|---|---|")
    for name, backend in backends.items():
        cells = []
        for shots in (4, 8):
            scores = []
            for seed in range(3):
                prompt = draw_prompt(train, shots, seed)
                probs = evaluate.label_probabilities(backend, prompt, list(dev["text"]), labels)
                predicted = calibrate.predictions(calibrate.calibrate("batch", probs), labels)
                scores.append(float(np.mean([p == g for p, g in zip(predicted, dev["label"], strict=True)])))
            cells.append(f"{statistics.mean(scores):.3f} ± {statistics.stdev(scores):.3f} "
                         f"({', '.join(f'{s:.3f}' for s in scores)})")
        print(f"| {'Q4_1 (shipped)' if name == 'original' else name} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="speed,scoring,accuracy")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=300, help="SST-2 dev rows for the accuracy part")
    parser.add_argument("--scoring-rows", type=int, default=100, help="SST-2 dev rows for the rows/s part")
    args = parser.parse_args()
    parts = args.parts.split(",")
    backends = {name: LocalBackend(weights=name) for name in args.formats.split(",")}
    for name, backend in backends.items():
        print(f"{name}: {backend.model_label} ({backend.path.stat().st_size / 2**20:.0f} MiB)")
        load_model(backend.path, backend.n_threads_batch)
    if "speed" in parts:
        spawn = multiprocessing.get_context("spawn")
        paths = [str(b.path) for b in backends.values()]
        with spawn.Pool(1, initializer=_raw_init, initargs=(paths, next(iter(backends.values())).n_threads)) as pool:
            speed(args, backends, pool)
    if "scoring" in parts:
        scoring(args, backends)
    if "accuracy" in parts:
        accuracy(args, backends)


if __name__ == "__main__":
    main()
