"""The blog's bias probe on the embedded model: the probe's batched samples against one call per sample.

Side by side in one process, on the built-in preset `disability-sentiment` (13 disability terms
plus the two baselines, 5 samples each at temperature 0.1, seeds 0..4):

  baseline    every sample its own call (the engine decoding one row at a time; the prompt's
              shared part stays cached between calls, as llama-cpp-python's would)
  ours        run_probe: each query's 5 samples in one generate_many, decoded together

Both take the same seeds, so they should count the same labels (checked and printed), and the
label-scoring mode is timed too. Turns alternate so machine noise hits both.

    python benchmarks/probe.py [--repeat 3] [--samples 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fewshot import presets, probe  # noqa: E402
from fewshot.backends.base import sequential_many  # noqa: E402
from fewshot.backends.local import LocalBackend  # noqa: E402


class OneAtATime:
    """The same backend, but generate_many runs its rows one after another."""

    def __init__(self, backend: LocalBackend) -> None:
        self.backend, self.name, self.model = backend, backend.name, backend.model

    def generate_many(self, rows, cancel=None):
        return sequential_many(self.backend, rows, cancel)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    preset = presets.find("disability-sentiment")
    spec = probe.PRESET_PROBES["disability-sentiment"]
    terms = probe.resolve_terms(spec["terms"])
    backend = LocalBackend()

    def run(b, mode="samples"):
        return probe.run_probe(b, preset.prompt, spec["template"], terms, samples=args.samples,
                               settings=preset.columns[0].settings, mode=mode)

    run(backend)  # load the model and warm the cache
    ours, base = [], []
    for _ in range(args.repeat):
        t_base, r_base = timed(lambda: run(OneAtATime(backend)))
        t_ours, r_ours = timed(lambda: run(backend))
        base.append(t_base)
        ours.append(t_ours)
    same = [t.distribution for t in r_ours.terms] == [t.distribution for t in r_base.terms]
    t_score, scored = timed(lambda: run(backend, "labels"))
    queries = len(terms) + len(probe.BASELINE_TERMS)
    print(f"{queries} queries × {args.samples} samples, temperature {preset.columns[0].temperature}, "
          f"{args.repeat} turns each")
    print(f"baseline, one call per sample: {min(base):.2f}–{max(base):.2f} s (median {statistics.median(base):.2f})")
    print(f"ours, samples batched:         {min(ours):.2f}–{max(ours):.2f} s (median {statistics.median(ours):.2f})")
    print(f"ratio (baseline / ours, medians): {statistics.median(base) / statistics.median(ours):.2f}×")
    print(f"same label counts in both: {same}")
    print(f"label scoring instead ({queries} queries, no calibration): {t_score:.2f} s")
    print(f"flagged by sampling: {len(r_ours.flagged)} of {len(terms)}; "
          f"by scoring: {len(scored.flagged)} of {len(terms)}")


if __name__ == "__main__":
    main()
