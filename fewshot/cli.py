"""`python -m fewshot`: run a preset headless, with settings overrides and sweeps.

Exit codes: 0 every completion succeeded, 1 at least one failed (its error is printed),
2 bad input (unknown preset or key, out-of-range value, empty query): one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

from . import grid, presets
from .backends import KINDS, BackendSpec, make_backend
from .backends.base import FINISH_LABELS, Completion
from .errors import BackendError, BackendRejected, FewShotError
from .settings import GenerationSettings, bounds, describe, escape, make_settings

EPILOG = """\
settings (KEY for --set and --sweep):
{settings}
  shots               0 or more       use only the first N examples (0 = zero-shot)

values: numbers as usual; end_sequence takes a string (write a newline as \\n) or a JSON
list of up to 4 strings; seed takes a whole number or "none" (a new seed each run).
With no --sweep, the preset's own columns run (each with the --set values applied). With
--sweep, the preset's first column is the base and every combination of the swept values runs;
several --sweep options form a cross product.

examples:
  python -m fewshot run sentiment
  python -m fewshot run sentiment --query "What a day!" --sweep temperature=0.1,0.5,0.9 --samples 5
  python -m fewshot run translate-en-fr --set max_new_tokens=8 --sweep shots=0,1,2,4 --format json
  python -m fewshot run my-preset.json --set 'end_sequence=["###", "\\n\\n"]'
  python -m fewshot run sentiment --backend tgi --url http://localhost:8080
  python -m fewshot run sentiment --backend openai --url http://localhost:8000/v1 --model Qwen/Qwen2.5-0.5B
  python -m fewshot run sentiment --backend chat --url https://router.huggingface.co/v1 \\
      --model meta-llama/Llama-3.1-8B-Instruct:fastest

tokens: HF_TOKEN goes to huggingface.co (and router.huggingface.co), OPENAI_API_KEY to api.openai.com,
FEWSHOT_API_KEY to the hosts listed in FEWSHOT_API_HOSTS (comma-separated); never elsewhere.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one readable line, no usage dump
        self.exit(2, f"fewshot: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    settings_help = "\n".join(
        f"  {name:<20}{_range(name):<16}{describe(name)}" for name in GenerationSettings.model_fields
    )
    parser = _Parser(prog="python -m fewshot", description="Few-shot playground, headless.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("presets", help="list the built-in presets")
    run = sub.add_parser(
        "run",
        help="run a preset and print its completions",
        description="Run a preset (a built-in or saved preset's name, or a JSON file) on its backends — the "
        "embedded model unless the preset or --backend names another — and print the completions.",
        epilog=EPILOG.format(settings=settings_help),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("preset", metavar="PRESET_OR_JSON_FILE", help="a built-in or saved preset's name, or a JSON file")
    run.add_argument("--query", help="replace the preset's query")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    run.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2,...", help="try several values")
    run.add_argument("--samples", type=int, default=1, metavar="N", help="completions per setting (default 1)")
    run.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    run.add_argument(
        "--backend", choices=list(KINDS),
        help="where completions come from: local (the embedded model), openai (/v1/completions of vLLM, "
        "llama.cpp, TGI, OpenAI), tgi (TGI or a Hugging Face endpoint), ollama, chat (/v1/chat/completions). "
        "Default: the preset's own choice per column (the embedded model unless it names endpoints)",
    )
    run.add_argument("--url", help="the server's base URL, as copied (with or without /v1)")
    run.add_argument(
        "--model", help="model name on the server; for local, a GGUF file (default: FEWSHOT_MODEL or SmolLM2-135M)"
    )
    ev = sub.add_parser(
        "eval",
        help="measure a preset's accuracy on a labelled CSV",
        description="Predict each row's label by scoring every label after the preset's prompt (the row is the "
        "query) on the embedded model, and print the accuracy, calibrated as in 'Calibrate Before Use'.",
        epilog="example:\n  python -m fewshot eval sentiment --data reviews.csv --labels positive,negative --shots 2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ev.add_argument("preset", metavar="PRESET_OR_JSON_FILE", help="a built-in or saved preset's name, or a JSON file")
    ev.add_argument("--data", required=True, metavar="CSV", help="a CSV file with columns text,label")
    ev.add_argument("--labels", metavar="A,B,...", help="the labels to choose from (default: those in the CSV)")
    ev.add_argument("--limit", type=int, default=200, metavar="N", help="evaluate the first N rows (default 200)")
    ev.add_argument("--shots", type=int, metavar="N", help="use only the first N examples")
    ev.add_argument("--no-calibrate", action="store_true", help="skip the content-free calibration")
    ev.add_argument("--model", metavar="GGUF", help="a GGUF file for the embedded backend")
    add_select_parser(sub)
    return parser


def evaluate_command(args: argparse.Namespace) -> int:
    from . import evaluate
    from .backends.local import LocalBackend

    preset = presets.find(args.preset)
    prompt = preset.prompt if args.shots is None else preset.prompt.with_shots(grid._shots(args.shots))
    rows = evaluate.read_labelled(args.data, args.limit)
    result = evaluate.evaluate(LocalBackend(args.model), prompt, rows, evaluate.parse_labels(args.labels),
                               calibrate=not args.no_calibrate)
    print(f"{len(rows)} rows, {len(prompt.examples)} examples in the prompt, labels: {', '.join(result.labels)}")
    print(f"accuracy:            {result.accuracy:.3f}")
    if result.calibrated is not None:
        bias = ", ".join(f"{k} {v:.2f}" for k, v in result.bias.items())
        print(f"calibrated accuracy: {result.calibrated_accuracy:.3f}   (content-free bias: {bias})")
    print("\nconfusion (rows: true label, columns: predicted)")
    print(result.confusion().to_string())
    return 0


def _range(name: str) -> str:
    """`0 to 2`: a setting's range for the help."""
    low, high = bounds(name)
    if low is None and high is None:
        return "up to 4" if name == "end_sequence" else ""
    return " to ".join(str(int(v)) if float(v).is_integer() else f"{v:g}" for v in (low, high))


def split_pair(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise FewShotError(f"{option} takes KEY=VALUE, got {text!r}.")
    if key not in grid.SWEEP_KEYS:
        raise FewShotError(f"unknown setting {key!r} in {option}. Known: {', '.join(grid.SWEEP_KEYS)}.")
    return key, value


def plan(args: argparse.Namespace) -> tuple[presets.Preset, list[grid.Cell]]:
    """The preset (with --query applied) and the cells to run."""
    preset = presets.find(args.preset)
    if args.query is not None:
        preset = preset.model_copy(update={"query": args.query})
    preset.prompt.check()
    overrides = dict(split_pair(s, "--set") for s in args.set)
    shots = overrides.pop("shots", None)
    overrides = {k: grid.parse_value(k, v) for k, v in overrides.items()}
    axes: dict[str, list[Any]] = {}
    for s in args.sweep:
        key, values = split_pair(s, "--sweep")
        if key in axes:
            raise FewShotError(f"--sweep {key} is given twice: put all its values in one, comma-separated.")
        axes[key] = grid.parse_axis(key, values)
    if shots is not None and "shots" not in axes:
        axes["shots"] = [shots]
    columns = [(make_settings(**{**c.settings.model_dump(), **overrides}), c.backend) for c in preset.columns]
    if args.backend:  # one backend for everything, whatever the preset's columns say
        columns = [(settings, "") for settings, _ in columns]
    if args.sweep:
        return preset, grid.expand(columns[0][0], axes, args.samples, columns[0][1])
    return preset, [cell for base, backend in columns for cell in grid.expand(base, axes, args.samples, backend)]


def row_json(index: int, cell: grid.Cell, c: Completion) -> dict[str, Any]:
    row: dict[str, Any] = {
        "cell": index,
        "settings": cell.settings.model_dump(mode="json"),
        "shots": cell.shots,
        "sample": cell.sample,
        "text": c.text,
        "finish_reason": c.finish_reason,
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "seconds": round(c.seconds, 3),
        "seed": c.seed,
        "backend": c.backend,
        "model": c.model,
    }
    if c.error:
        row["error"] = c.error
    return row


def row_table(index: int, cell: grid.Cell, c: Completion, base: GenerationSettings | None) -> str:
    setting = cell.settings.label(base)
    if cell.shots is not None:
        setting += f", shots={cell.shots}"
    if cell.sample:
        setting += f", sample {cell.sample + 1}"
    finish = FINISH_LABELS.get(c.finish_reason or "", c.finish_reason or "")
    text = f"ERROR: {c.error}" if c.error else escape(c.text)
    return f"{index:>3}  {setting:<28} {finish:<13} {c.completion_tokens:>4} {c.seconds:>6.2f}  {text}"


def make_cli_backends(args: argparse.Namespace, preset: presets.Preset) -> dict[str, Any]:
    """The backend the flags name, or else the embedded model plus the preset's endpoints.

    A bad URL in the flags is bad input (exit 2); a bad endpoint in a preset fails its columns.
    """
    if args.url and not args.backend:
        raise FewShotError("--url needs --backend (openai, tgi, ollama or chat) to say how to talk to it.")
    if args.backend:
        if args.backend != "local" and not args.url:
            raise FewShotError(f"--backend {args.backend} needs --url (the server's base URL).")
        try:
            return {"": make_backend(BackendSpec(kind=args.backend, url=args.url or "", model=args.model or ""))}
        except BackendRejected as exc:
            raise FewShotError(str(exc)) from None
    table: dict[str, Any] = {"": make_backend(BackendSpec(kind="local", model=args.model or ""))}
    for name, spec in preset.endpoints.items():
        try:
            table[name] = make_backend(spec)
        except FewShotError as exc:
            table[name] = exc
    return table


def run(args: argparse.Namespace) -> int:
    preset, cells = plan(args)
    backend = make_cli_backends(args, preset)
    base = cells[0].settings if args.sweep else None
    if args.format == "table":
        print(f"{'#':>3}  {'settings':<28} {'finish':<13} {'toks':>4} {'secs':>6}  text")
    failures = 0
    cancel = threading.Event()
    try:
        for index, c in grid.run(backend, preset.prompt, cells, cancel):
            if not c.done:
                continue
            failures += c.finish_reason == "error"
            if args.format == "json":
                print(json.dumps(row_json(index, cells[index], c), ensure_ascii=False), flush=True)
            else:
                print(row_table(index, cells[index], c, base), flush=True)
    except KeyboardInterrupt:
        cancel.set()
        return 130
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "presets":
            found, errors = presets.load_folder()
            for name, p in found.items():
                print(f"{name:<18} {p.name} — {p.description}")
            for e in errors:
                print(f"fewshot: warning: {e}", file=sys.stderr)
            return 0
        if args.command == "eval":
            return evaluate_command(args)
        if args.command == "select":
            return select_command(args)
        return run(args)
    except BackendError as exc:
        print(f"fewshot: error: {exc}", file=sys.stderr)
        return 1
    except FewShotError as exc:
        print(f"fewshot: error: {exc}", file=sys.stderr)
        return 2


# --- select: choose the examples (fewshot/select.py) ---------------------------------------------

SELECT_EPILOG = """\
The rows of --data are shuffled (--seed) and cut into a selection split and a test split
(--test-split is the test share). `search` scores candidates on the selection split only; every
method's choice is then scored on the test split, next to random draws of the same k on the same
test rows. Pool rows that also appear in --data are dropped: no row is its own demonstration.

examples:
  python -m fewshot select sentiment --pool train.csv --data dev.csv --k 4 --method search --budget 32
  python -m fewshot select my-preset.json --pool train.csv --data dev.csv --method similar --out chosen.json
"""


def add_select_parser(sub) -> None:
    """The `select` subcommand's options. Method and calibration names are checked by select.choose,
    so that building the parser does not import numpy and pandas for every command."""
    sel = sub.add_parser(
        "select",
        help="choose which examples (and in which order) a preset's prompt shows",
        description="Choose k examples for a preset's prompt from a labelled pool, measured on held-out rows: "
        "random, balanced (every label), similar (the nearest pool rows to each query, TF-IDF) or search "
        "(the best set and order on a selection split), scored by label scoring on the embedded model.",
        epilog=SELECT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sel.add_argument("preset", metavar="PRESET_OR_JSON", help="a built-in or saved preset's name, or a JSON file")
    sel.add_argument("--pool", required=True, metavar="POOL.csv", help="where examples come from (text,label)")
    sel.add_argument("--data", required=True, metavar="EVAL.csv", help="rows to choose on and test on (text,label)")
    sel.add_argument("--k", type=int, default=4, help="examples in the prompt (default 4)")
    sel.add_argument("--method", default="search", metavar="random|balanced|similar|search",
                     help="how to choose (default search)")
    sel.add_argument("--budget", type=int, default=32, help="candidates the search scores (default 32)")
    sel.add_argument("--calibrate", default="batch", metavar="none|contextual|batch|domain",
                     help="calibration (default batch)")
    sel.add_argument("--test-split", type=float, default=0.5, help="share of --data kept for the test (default 0.5)")
    sel.add_argument("--seed", type=int, default=0, help="seed of the split and the draws (default 0)")
    sel.add_argument("--draws", type=int, default=5, help="random draws for the baseline (default 5)")
    sel.add_argument("--limit", type=int, default=200, metavar="N", help="use the first N rows of --data (default 200)")
    sel.add_argument("--out", metavar="CHOSEN.json", help="write the preset with the chosen examples here")
    sel.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    sel.add_argument("--model", metavar="GGUF", help="a GGUF file for the embedded backend")
    sel.add_argument("--threads", type=int, metavar="N",
                     help="llama.cpp threads (default: every core; 1 on a machine others are busy on)")


def select_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import calibrate, evaluate, select
    from .backends.local import LocalBackend

    if args.draws < 1 or args.limit < 2:
        raise FewShotError("--draws must be at least 1 and --limit at least 2.")
    if args.method not in select.METHODS:
        raise FewShotError(f"Unknown --method {args.method!r}: choose from {', '.join(select.METHODS)}.")
    calibrate.check_methods([args.calibrate])
    preset = presets.find(args.preset)
    rows = evaluate.read_labelled(args.data, args.limit)
    selection, test = select.split(rows, args.test_split, args.seed)
    full_pool = evaluate.read_labelled(args.pool)
    pool = select.disjoint_pool(full_pool, selection, test)
    labels = select.labels_of(pool, selection, test)
    backend = LocalBackend(args.model, n_threads=args.threads)
    choice = select.choose(args.method, backend, preset.prompt, pool, selection, test, args.k, labels,
                           args.calibrate, args.budget, args.seed, progress=_search_progress())
    draws = select.random_draws(backend, preset.prompt, pool, test, args.k, labels, args.calibrate, args.draws,
                                args.seed)
    for warning in choice.warnings:
        print(f"fewshot: warning: {warning}", file=sys.stderr)
    shown = choice.examples_for(str(test["text"].iloc[0]))
    report = {
        "method": choice.method, "k": choice.k, "calibration": args.calibrate, "labels": labels,
        "rows": {"pool": len(pool), "pool_dropped": len(full_pool) - len(pool), "selection": len(selection),
                 "test": len(test)},
        "examples": [e.model_dump() for e in choice.examples],
        "selection_accuracy": choice.selection_accuracy, "test_accuracy": choice.test_accuracy,
        "random": {"mean": draws.mean, "std": draws.std, "accuracies": list(draws.accuracies)},
        "majority": select.majority(test), "warnings": list(choice.warnings),
    }
    if choice.search is not None:
        report["search"] = {"candidates": len(choice.search.tried), "seconds": round(choice.search.seconds, 1),
                            "candidates_per_minute": round(choice.search.per_minute, 1)}
    if args.out:
        out = Path(args.out)
        try:
            out.write_text(presets.to_json(select.apply_to_preset(preset, choice, args.pool)), encoding="utf-8")
        except OSError as exc:
            raise FewShotError(f"Cannot write {out.name}: {exc.strerror}.") from None
        report["out"] = str(out)
    if args.format == "json":
        print(json.dumps(report, ensure_ascii=False))
        return 0
    print(f"pool {len(pool)} rows ({report['rows']['pool_dropped']} dropped: also in --data), selection "
          f"{len(selection)} rows, test {len(test)} rows; k = {choice.k}, calibration {args.calibrate}; "
          f"labels: {', '.join(labels)}")
    if choice.search is not None:
        s = report["search"]
        print(f"search: {s['candidates']} candidates in {s['seconds']} s ({s['candidates_per_minute']} per minute)")
    if choice.index is not None:
        print(f"chosen per query: the {choice.k} nearest pool rows (TF-IDF); for the first test row:")
    else:
        print("chosen examples, in order:")
    for i, e in enumerate(shown, start=1):
        print(f"  {i}. [{escape(e.output)}] {escape(e.input)}")
    print(f"selection accuracy  {choice.selection_accuracy:.3f}")
    print(f"test accuracy       {choice.test_accuracy:.3f}")
    print(f"random draws        {draws.mean:.3f} ± {draws.std:.3f}  ({args.draws} draws of {choice.k}, same test rows)")
    print(f"majority class      {report['majority']:.3f}")
    if args.out:
        print(f"wrote {args.out}")
    return 0


def _search_progress():
    """A progress line with the ETA on stderr when it is a terminal; None otherwise."""
    if not sys.stderr.isatty():
        return None
    import time

    start = time.monotonic()

    def show(done: int, total: int) -> None:
        eta = (time.monotonic() - start) / done * (total - done)
        print(f"\rsearch: {done}/{total} candidates, about {eta:.0f} s left ", end="", file=sys.stderr, flush=True)
        if done == total:
            print(file=sys.stderr)

    return show
