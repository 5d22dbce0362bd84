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
    add_eval_parser(sub)
    add_probe_parser(sub)
    add_select_parser(sub)
    return parser


EVAL_EPILOG = """\
Each row of --data is the query in turn; demonstrations come from --pool, from a seeded --split of
--data (a row used as a demonstration is never scored), or else the preset's examples table.
Every cell is the mean ± std over --draws seeded draws of the examples. Scoring "labels" scores each
label's log-probability (the embedded model, vLLM-style servers, TGI) and takes every calibration;
"generate" maps a greedy completion's first line to a label (every backend, chat included).

examples:
  python -m fewshot eval sentiment --data reviews.csv --split 0.5 --shots 0,4,8 --draws 3
  python -m fewshot eval sentiment --data dev.csv --pool train.csv --calibrate none,contextual,batch,domain \\
      --format json --out results.csv
  python -m fewshot eval sentiment --data dev.csv --scoring generate --backend chat \\
      --url https://router.huggingface.co/v1 --model meta-llama/Llama-3.1-8B-Instruct:fastest
"""


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes whole numbers separated by commas, e.g. 0,4,8 (got {text!r})") \
            from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"takes whole numbers of 0 or more, e.g. 0,4,8 (got {text!r})")
    return values


def _words(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"takes the pool's share of the rows, between 0 and 1 (got {text!r})")
    return value


def add_eval_parser(sub) -> None:
    """`eval`: accuracy of a preset's prompt on a labelled CSV, over a grid of shots × calibration × scoring."""
    ev = sub.add_parser(
        "eval", help="measure a preset's accuracy on a labelled CSV (shots × calibration × scoring, mean ± std)",
        description="Measure the accuracy of a preset's prompt on a labelled CSV: a grid of shots × calibration × "
        "scoring mode, each cell the mean ± std over example draws, next to the majority-class baseline.",
        epilog=EVAL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ev.add_argument("preset", metavar="PRESET_OR_JSON", help="a built-in or saved preset's name, or a JSON file")
    ev.add_argument("--data", required=True, metavar="EVAL.csv", help="the rows to score (columns text,label)")
    where = ev.add_mutually_exclusive_group()
    where.add_argument("--pool", metavar="POOL.csv", help="draw the examples from this CSV")
    where.add_argument("--split", type=_fraction, metavar="FRACTION",
                       help="draw the examples from this share of --data (seeded); score the rest")
    ev.add_argument("--shots", type=_int_list, metavar="0,4,8",
                    help="numbers of examples (default 0,4,8 with --pool/--split, else 0 and all the preset's)")
    ev.add_argument("--draws", type=int, default=3, metavar="N", help="example draws per number of shots (default 3)")
    ev.add_argument("--balanced", action="store_true", help="draw the same number of examples of each label")
    ev.add_argument("--calibrate", type=_words, default=["none", "batch"], metavar="none,contextual,batch,domain",
                    help="calibration methods (default none,batch: raw and batch-calibrated side by side)")
    ev.add_argument("--scoring", type=_words, default=["labels"], metavar="labels|generate",
                    help="labels: each label's log-probability; generate: a greedy completion's first line "
                    "(default labels; both: labels,generate)")
    ev.add_argument("--labels", metavar="A,B,...", help="the candidate labels (default: those in --data)")
    ev.add_argument("--text-column", default="text", metavar="NAME", help="the CSV's text column (default text)")
    ev.add_argument("--label-column", default="label", metavar="NAME", help="the CSV's label column (default label)")
    ev.add_argument("--limit", type=int, default=200, metavar="N", help="score at most N rows (default 200)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the split and the draws (default 0)")
    ev.add_argument("--backend", choices=list(KINDS), help="where scores come from (default: the embedded model)")
    ev.add_argument("--url", help="the server's base URL, as copied (with or without /v1)")
    ev.add_argument("--model", help="model name on the server; for local, a GGUF file")
    ev.add_argument("--format", choices=("table", "json"), default="table",
                    help="table, or json: one object per grid cell per line")
    ev.add_argument("--out", metavar="results.csv", help="also write the cells, confusion tables and failures as CSV")


def evaluate_command(args: argparse.Namespace) -> int:
    """Run the grid and print one line (table) or one JSON object per cell."""
    from . import evaluate

    preset = presets.find(args.preset)
    columns = {"text": args.text_column, "label": args.label_column}
    data = evaluate.read_labelled(args.data, None if args.split else args.limit, **columns)
    if args.split:
        pool, rows = evaluate.split(data, args.split, args.seed)
        rows = rows.head(args.limit)
    elif args.pool:
        pool, rows = evaluate.read_labelled(args.pool, **columns), data
    else:
        pool, rows = evaluate.pool_of(preset.prompt.examples), data
    shots = args.shots or ([0, 4, 8] if args.pool or args.split else sorted({0, len(preset.prompt.examples)}))
    if args.url and not args.backend:
        raise FewShotError("--url needs --backend (openai, tgi, ollama or chat) to say how to talk to it.")
    if args.backend and args.backend != "local" and not args.url:
        raise FewShotError(f"--backend {args.backend} needs --url (the server's base URL).")
    spec = BackendSpec(kind=args.backend or "local", url=args.url or "", model=args.model or "")
    try:
        backend = make_backend(spec)
    except BackendRejected as exc:
        raise FewShotError(str(exc)) from None
    result = evaluate.run_grid(
        backend, preset.prompt, pool, rows, evaluate.parse_labels(args.labels), shots=shots,
        calibrate=args.calibrate, scoring=args.scoring, draws=args.draws, balanced=args.balanced, seed=args.seed,
    )
    if args.format == "json":
        for cell in result.cells:
            print(json.dumps(cell.row(), ensure_ascii=False), flush=True)
    else:
        label, share = result.majority
        print(f"{len(rows)} rows, pool of {len(pool)}, labels: {', '.join(result.labels)}; "
              f"majority baseline {share:.3f} ('{label}')")
        print(f"{'shots':>5}  {'scoring':<9} {'calibrate':<11} {'accuracy':>15} {'n':>5} {'draws':>5}")
        for c in result.cells:
            print(f"{c.shots:>5}  {c.scoring:<9} {c.calibrate:<11} {c.accuracy:>7.3f} ± {c.accuracy_std:.3f} "
                  f"{c.n:>5} {c.draws:>5}")
    if args.out:
        written = result.to_csv(args.out)
        print(f"wrote {', '.join(str(p) for p in written)}", file=sys.stderr)
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


# --- probe: the counterfactual bias probe -------------------------------------------------------

PROBE_EPILOG = """\
term sets: {sets}
A baseline ("" and "a" in the slot) always runs first and every term is compared with it.

examples:
  python -m fewshot probe disability-sentiment
  python -m fewshot probe sentiment --template "I'm a {{}} happy person" --terms disability --samples 5
  python -m fewshot probe sentiment --template "I'm a {{}} happy person" --terms gender,age --scoring labels \\
      --calibrate contextual --format json
  python -m fewshot probe sentiment --template "My {{}} neighbour waved" --term tall --term short
"""


def add_probe_parser(sub: Any) -> None:
    """The `probe` subcommand's options."""
    from . import calibrate, probe

    p = sub.add_parser(
        "probe",
        help="counterfactual bias probe: which terms in a query move the label",
        description="Fill a query template's {} with each term and with a neutral baseline, measure the label "
        "distribution of each (sampled completions, or label scoring), and flag the terms whose shift from the "
        "baseline exceeds the threshold with a bootstrap interval that excludes zero.",
        epilog=PROBE_EPILOG.format(sets=", ".join(probe.TERM_SETS)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("preset", metavar="PRESET_OR_JSON_FILE", help="a built-in or saved preset's name, or a JSON file")
    p.add_argument("--template", help="the query with one {} where the term goes (default: the preset's probe)")
    p.add_argument("--terms", metavar="SET,SET", help="built-in term sets, comma-separated (listed below)")
    p.add_argument("--term", action="append", default=[], metavar="TEXT", help="a term of your own (repeatable)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--samples", type=int, metavar="N", help="sampled completions per term (default 5)")
    how.add_argument("--scoring", choices=("labels",), help="score each label instead of sampling (embedded model)")
    p.add_argument("--calibrate", choices=calibrate.METHODS, default="none", help="calibration for --scoring labels")
    p.add_argument("--labels", metavar="A,B,...", help="the labels (default: the outputs of the preset's examples)")
    p.add_argument("--threshold", type=float, default=probe.THRESHOLD, metavar="POINTS",
                   help=f"flag shifts larger than this many points (default {probe.THRESHOLD:g})")
    p.add_argument("--temperature", type=float, help="sampling temperature (default: the preset's first column)")
    p.add_argument("--seed", type=int, default=0, help="first sampling seed when the preset sets none (default 0)")
    p.add_argument("--csv", metavar="FILE", help="also write the per-term table to a CSV file")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    p.add_argument("--backend", choices=list(KINDS), help="where completions come from (default: the preset's)")
    p.add_argument("--url", help="the server's base URL, as copied (with or without /v1)")
    p.add_argument("--model", help="model name on the server; for local, a GGUF file")


def probe_command(args: argparse.Namespace) -> int:
    """Run the probe and print one row (table) or one JSON object per term; exit 0 whether or not flagged."""
    from . import evaluate, probe

    preset_id = args.preset.removesuffix(".json").rsplit("/", 1)[-1]
    defaults = probe.defaults_for(preset_id)
    preset = presets.find(args.preset)
    if args.template is None and "template" not in defaults:
        raise FewShotError(f"{args.preset} has no probe of its own: give --template with one {{}} where the term "
                           "goes, e.g. --template \"I'm a {} happy person\".")
    template = probe.check_template(args.template if args.template is not None else defaults["template"])
    # The preset's own term sets only when no terms are given at all.
    sets = args.terms.split(",") if args.terms is not None else [] if args.term else list(defaults.get("terms", ()))
    terms = probe.resolve_terms([s.strip() for s in sets if s.strip()], args.term)
    if not args.scoring and args.calibrate != "none":
        raise FewShotError("--calibrate applies to --scoring labels; with sampling drop it.")
    column = preset.columns[0]
    settings = column.settings
    if args.temperature is not None:
        settings = make_settings(**{**settings.model_dump(), "temperature": args.temperature})
    backend = make_cli_backends(args, preset)["" if args.backend else column.backend]
    if isinstance(backend, FewShotError):
        raise backend
    samples = args.samples if args.samples is not None else defaults.get("samples", max(preset.samples, 5))
    result = probe.run_probe(
        backend, preset.prompt, template, terms, labels=evaluate.parse_labels(args.labels),
        mode="labels" if args.scoring else "samples", samples=samples, settings=settings,
        calibration=args.calibrate, threshold=args.threshold, seed=args.seed,
    )
    if args.format == "json":
        for row in result.rows():
            print(json.dumps(row, ensure_ascii=False))
    else:
        print(result.table())
    if args.csv:
        try:
            result.to_csv(args.csv)
        except OSError as exc:
            raise FewShotError(f"Cannot write {args.csv}: {exc.strerror}.") from None
    return 0


def list_presets(args: argparse.Namespace) -> int:
    found, errors = presets.load_folder()
    for name, p in found.items():
        print(f"{name:<18} {p.name} — {p.description}")
    for e in errors:
        print(f"fewshot: warning: {e}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
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


COMMANDS = {"presets": list_presets, "run": run, "eval": evaluate_command, "probe": probe_command,
            "select": select_command}
