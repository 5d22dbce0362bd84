"""Accuracy on SST-2 dev vs shots, calibration and scoring mode, mean ± std over example draws.

Demonstrations are drawn from SST-2 train (the pool), scored rows are SST-2 dev (never
sst2_test.csv); the majority-class baseline of the scored rows is printed alongside. The same
script runs AG News and TREC (`--task agnews|trec`, their test files serve as evaluation rows:
they have no dev split and nothing is tuned on them here).

    python benchmarks/sst2_shots.py [--task sst2] [--rows 200] [--shots 0,1,4,8] [--draws 3]
        [--calibrate none,contextual,batch,domain] [--scoring labels,generate]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import DATA  # noqa: E402
from fewshot import evaluate  # noqa: E402
from fewshot.backends.local import LocalBackend  # noqa: E402
from fewshot.prompt import FewShotPrompt, Template  # noqa: E402

# task -> (pool file, evaluation file, task description, template)
TASKS = {
    "sst2": ("sst2_train.csv", "sst2_dev.csv", "Classify the sentiment of each movie review as positive or negative.",
             Template(input_prefix="Review: ", output_prefix="\nSentiment: ", separator="\n###\n")),
    "agnews": ("agnews_train.csv", "agnews_test.csv",
               "Classify each news article as world, sports, business or technology.",
               Template(input_prefix="Article: ", output_prefix="\nAnswer: ", separator="\n###\n")),
    "trec": ("trec_train.csv", "trec_test.csv",
             "Classify each question by the type of its answer: number, location, person, description, entity "
             "or abbreviation.",
             Template(input_prefix="Question: ", output_prefix="\nAnswer Type: ", separator="\n###\n")),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=list(TASKS), default="sst2")
    parser.add_argument("--rows", type=int, default=200, help="evaluation rows (a seeded sample of the file)")
    parser.add_argument("--pool", type=int, default=400, help="pool rows taken from the training file")
    parser.add_argument("--shots", default="0,1,4,8")
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--balanced", action="store_true")
    parser.add_argument("--calibrate", default="none,contextual,batch,domain")
    parser.add_argument("--scoring", default="labels,generate")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pool_file, eval_file, task, template = TASKS[args.task]
    if not (DATA / eval_file).exists():
        sys.exit(f"needs {DATA}/{pool_file} and {eval_file}")
    backend = LocalBackend()
    pool = evaluate.read_labelled(DATA / pool_file).sample(frac=1, random_state=args.seed).head(args.pool)
    rows = evaluate.read_labelled(DATA / eval_file).sample(frac=1, random_state=args.seed).head(args.rows)
    labels = sorted(set(rows["label"]) | set(pool["label"]))
    label, share = evaluate.majority_baseline(list(rows["label"]))
    print(f"{args.task}: {len(rows)} rows of {eval_file} (majority '{label}' {share:.3f}), pool {len(pool)} rows of "
          f"{pool_file}; {backend.model_label}; draws {args.draws}{', balanced' if args.balanced else ''}", flush=True)
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % 200 < evaluate.CHUNK or done == total:
            elapsed = time.perf_counter() - start
            print(f"  … {done}/{total} queries, {done / elapsed:.1f}/s, ETA {(total - done) * elapsed / done:.0f} s",
                  file=sys.stderr, flush=True)

    result = evaluate.run_grid(
        backend, FewShotPrompt(task=task, template=template), pool, rows, labels,
        shots=[int(s) for s in args.shots.split(",")], calibrate=args.calibrate.split(","),
        scoring=args.scoring.split(","), draws=args.draws, balanced=args.balanced, seed=args.seed,
        progress=progress,
    )
    shots = sorted({c.shots for c in result.cells})
    print(f"{'scoring':<9} {'calibrate':<11}" + "".join(f"{k:>8} shots " for k in shots))
    for scoring in dict.fromkeys(c.scoring for c in result.cells):
        for method in dict.fromkeys(c.calibrate for c in result.cells if c.scoring == scoring):
            cells = sorted((c for c in result.cells if (c.scoring, c.calibrate) == (scoring, method)),
                           key=lambda c: c.shots)
            print(f"{scoring:<9} {method:<11}" + "".join(f" {c.accuracy:.3f}±{c.accuracy_std:.3f}" for c in cells))
    print(f"majority baseline {share:.3f}; {time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
