"""Does choosing the examples beat picking them at random? Test-split accuracy at k = 4.

For SST-2 (pool sst2_train.csv; selection and test rows from sst2_dev.csv — sst2_test.csv is never
read), AG News and TREC (pool *_train.csv; selection and test rows from *_test.csv, as these two
have no dev file), with batch calibration: the accuracy on the test rows of `balanced`,
`similar` and `search` (chosen on the selection rows only) next to the mean ± std of random draws
of k examples on the same test rows, and the majority class. Prints the search's candidates per
minute, measured in the same run.

    python benchmarks/choose_examples.py [--datasets sst2,agnews,trec] [--selection 50] [--test 120]
                                [--draws 5] [--budget 20] [--k 4] [--threads 1]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from benchmarks.common import DATA, TASK, TEMPLATE  # noqa: E402
from fewshot import select  # noqa: E402
from fewshot.backends.local import LocalBackend  # noqa: E402
from fewshot.evaluate import read_labelled  # noqa: E402
from fewshot.prompt import FewShotPrompt, Template  # noqa: E402


@dataclass(frozen=True)
class Task:
    pool: str
    rows: str
    prompt: FewShotPrompt


# Task descriptions and templates as in "Calibrate Before Use" (Zhao et al., 2021), labels as in the CSVs.
TASKS = {
    "sst2": Task("sst2_train.csv", "sst2_dev.csv", FewShotPrompt(task=TASK, template=TEMPLATE)),
    "agnews": Task("agnews_train.csv", "agnews_test.csv", FewShotPrompt(
        task="Classify the news articles into the categories of world, sports, business and sci/tech.",
        template=Template(input_prefix="Article: ", output_prefix="\nAnswer: ", separator="\n\n"))),
    "trec": Task("trec_train.csv", "trec_test.csv", FewShotPrompt(
        task="Classify the questions based on whether their answer type is a number, location, person, "
             "description, entity or abbreviation.",
        template=Template(input_prefix="Question: ", output_prefix="\nAnswer Type: ", separator="\n\n"))),
}


def run(name: str, backend: LocalBackend, args: argparse.Namespace) -> None:
    task = TASKS[name]
    pool = read_labelled(DATA / task.pool)
    rows = read_labelled(DATA / task.rows).sample(n=args.selection + args.test, random_state=args.seed)
    selection, test = select.split(rows.reset_index(drop=True), args.test / (args.selection + args.test), args.seed)
    pool = select.disjoint_pool(pool, selection, test)
    labels = select.labels_of(pool, selection, test)
    prompt, k = task.prompt, args.k
    print(f"\n{name}: pool {len(pool)} rows ({task.pool}), selection {len(selection)} and test {len(test)} rows "
          f"({task.rows}), k = {k}, batch calibration; majority class on test {select.majority(test):.3f}", flush=True)

    start = time.perf_counter()
    draws = select.random_draws(backend, prompt, pool, test, k, labels, "batch", args.draws, args.seed)
    print(f"  random    test {draws.mean:.3f} ± {draws.std:.3f}  (mean ± std over {args.draws} draws: "
          f"{', '.join(f'{a:.3f}' for a in draws.accuracies)}; {time.perf_counter() - start:.0f} s)", flush=True)
    best = ("", -1.0)
    for method in ("balanced", "similar", "search"):
        start = time.perf_counter()
        c = select.choose(method, backend, prompt, pool, selection, test, k, labels, "batch", args.budget, args.seed)
        extra = ""
        if c.search is not None:
            extra = (f"; {len(c.search.tried)} candidates, {c.search.per_minute:.1f} candidates/minute "
                     f"on {len(selection)} selection rows")
        print(f"  {method:<9} test {c.test_accuracy:.3f}          (selection {c.selection_accuracy:.3f}; "
              f"{time.perf_counter() - start:.0f} s{extra})", flush=True)
        if c.test_accuracy > best[1]:
            best = (method, c.test_accuracy)
    gain = 100 * (best[1] - draws.mean)
    verdict = "meets" if gain >= 2 else "MISSES"
    print(f"  best strategy: {best[0]} {best[1]:.3f}, {gain:+.1f} points over the random mean "
          f"({verdict} the +2 point goal)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="sst2,agnews,trec")
    parser.add_argument("--selection", type=int, default=50, help="selection rows (search chooses on these)")
    parser.add_argument("--test", type=int, default=120, help="test rows (every figure is on these)")
    parser.add_argument("--draws", type=int, default=5, help="random draws for the baseline")
    parser.add_argument("--budget", type=int, default=20, help="search candidates")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="llama.cpp threads (default 1: on a shared machine more threads spin against each other)")
    args = parser.parse_args()
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    if missing := [TASKS[n].rows for n in names if not (DATA / TASKS[n].rows).exists()]:
        sys.exit(f"needs {', '.join(missing)} in {DATA}")
    backend = LocalBackend(n_threads=args.threads)
    print(f"{backend.model}; {args.selection} selection + {args.test} test rows, {args.draws} random draws, "
          f"search budget {args.budget}")
    for name in names:
        run(name, backend, args)


if __name__ == "__main__":
    main()
