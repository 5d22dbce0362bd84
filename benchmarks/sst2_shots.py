"""Accuracy of label scoring on SST-2 dev as the number of examples grows (and how long it takes).

Examples come from SST-2 train, queries from the first N dev rows (../shared/data; sst2_test.csv
is never used here). Prints accuracy and calibrated accuracy per number of shots.

    python benchmarks/sst2_shots.py [--rows 100] [--shots 0,2,4,8]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--shots", default="0,2,4,8")
    args = parser.parse_args()
    if not (DATA / "sst2_dev.csv").exists():
        sys.exit(f"needs {DATA}/sst2_train.csv and sst2_dev.csv")
    backend = LocalBackend()
    train = evaluate.read_labelled(DATA / "sst2_train.csv", limit=64)
    dev = evaluate.read_labelled(DATA / "sst2_dev.csv", limit=args.rows)
    majority = dev["label"].value_counts(normalize=True).max()
    print(f"SST-2 dev, first {len(dev)} rows (majority class {majority:.2f}); {backend.model}")
    for k in (int(s) for s in args.shots.split(",")):
        examples = tuple(Example(input=r.text, output=r.label) for r in train.iloc[:k].itertuples())
        prompt = FewShotPrompt(task=TASK, examples=examples, template=TEMPLATE)
        start = time.perf_counter()
        result = evaluate.evaluate(backend, prompt, dev, ["positive", "negative"], calibrate=True)
        seconds = time.perf_counter() - start
        print(f"  {k:2d} shots: accuracy {result.accuracy:.2f}, calibrated {result.calibrated_accuracy:.2f}  "
              f"({len(dev) + 1} queries in {seconds:.1f} s)")


if __name__ == "__main__":
    main()
