"""Label-scoring throughput on the embedded model next to its bound, measured in the same run.

The bound: every scored row must at least evaluate its own query tokens (the examples before it
stay in the engine's prefix cache), so rows/s ≤ prompt tokens/s ÷ mean query tokens. Prompt
tokens/s is measured by scoring texts that share no cached prefix, before and after the rows
(their mean is used: the machine is shared and its speed drifts).

    python benchmarks/score_throughput.py [--rows 24] [--shots 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import DATA, TASK, TEMPLATE  # noqa: E402
from fewshot import evaluate  # noqa: E402
from fewshot.backends.local import LocalBackend  # noqa: E402
from fewshot.prompt import Example, FewShotPrompt  # noqa: E402

LABELS = ["positive", "negative"]


def prompt_tokens_per_second(backend: LocalBackend, prompt: FewShotPrompt, tag: str) -> float:
    """Score a label after the whole prompt with a fresh first line, so nothing comes from the cache."""
    text = prompt.model_copy(update={"task": f"[{tag}] {prompt.task}"}).render()
    n = backend.count_tokens(text)
    start = time.perf_counter()
    backend.score_many([(text, " positive")])
    return n / (time.perf_counter() - start)


def query_tokens(backend: LocalBackend, prompt: FewShotPrompt, query: str) -> int:
    """Tokens of the rendered row past the prefix it shares with the prompt's other rows."""
    a = backend.tokenize(prompt.model_copy(update={"query": query}).render())
    b = backend.tokenize(prompt.model_copy(update={"query": "\x00"}).render())
    shared = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return len(a) - shared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=24)
    parser.add_argument("--shots", type=int, default=4)
    args = parser.parse_args()
    if not (DATA / "sst2_dev.csv").exists():
        sys.exit(f"needs {DATA}/sst2_train.csv and sst2_dev.csv")
    backend = LocalBackend()
    pool = evaluate.read_labelled(DATA / "sst2_train.csv", limit=400)
    demos = evaluate.draw(pool, args.shots, seed=0)
    prompt = FewShotPrompt(task=TASK, template=TEMPLATE, examples=tuple(
        Example(input=t, output=g) for t, g in zip(demos["text"], demos["label"], strict=True)))
    queries = list(evaluate.read_labelled(DATA / "sst2_dev.csv", limit=args.rows)["text"])
    evaluate.label_probabilities(backend, prompt, queries[:1], LABELS)  # load the model, cache the examples
    before = prompt_tokens_per_second(backend, prompt, "a")
    evaluate.label_probabilities(backend, prompt, queries[:1], LABELS)  # the examples back in the cache
    start = time.perf_counter()
    evaluate.label_probabilities(backend, prompt, queries, LABELS)
    rows_per_second = len(queries) / (time.perf_counter() - start)
    after = prompt_tokens_per_second(backend, prompt, "b")
    tokens = sum(query_tokens(backend, prompt, q) for q in queries) / len(queries)
    speed = (before + after) / 2
    bound = speed / tokens
    print(f"{backend.model}, {args.shots} shots, {len(queries)} SST-2 dev rows, {len(LABELS)} labels")
    print(f"prompt processing {speed:.0f} tokens/s (before {before:.0f}, after {after:.0f}); "
          f"mean query {tokens:.1f} tokens")
    print(f"label scoring {rows_per_second:.2f} rows/s; bound {bound:.2f} rows/s; ratio {rows_per_second / bound:.2f}")


if __name__ == "__main__":
    main()
