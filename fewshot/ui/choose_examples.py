"""The "Choose examples" tab: which k examples, in which order, picked from the user's labelled CSV and
measured on rows that were never used to choose them (fewshot/select.py does the choosing).

This module reads the widgets, runs `select.choose` on the embedded model with a progress bar and a
Stop, shows the figures next to the random-draw baseline on the same test rows, checks the order
sensitivity of the examples table, and "Apply" writes the winner into the examples table (so Compare,
Share and Get code use it). `load_data`, `run` and `report` are shared with the public API `select`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from .. import calibrate, evaluate, presets, select
from ..errors import ConfigError
from ..prompt import Example, FewShotPrompt
from .compare import MODEL_WORK
from .errors import shows_errors
from .state import Page, examples_to_rows

SAMPLE = presets.BUILTIN_DIR / "samples" / "tweets.csv"  # 36 tweets (12 per label) for the sentiment preset
DRAWS = 5  # default random draws of k for the baseline: enough for a mean ± std, cheap enough for the UI
HIDDEN = {"api_visibility": "private"}


@dataclass(frozen=True)
class Data:
    """The pool examples come from, the selection rows (to choose on) and the test rows (to report on)."""

    pool: pd.DataFrame
    selection: pd.DataFrame
    test: pd.DataFrame
    labels: list[str]
    dropped: int  # pool rows left out because their text is also an evaluated row


def load_data(pool_csv: str | None, eval_csv: str | None = None, pool_share: float = 0.5, test_split: float = 0.5,
              seed: int = 0) -> Data:
    """The rows from the files: a separate eval CSV, or else a seeded split of the one CSV into pool and
    evaluation rows; the evaluation rows are split again into selection and test (seeded)."""
    if not pool_csv:
        raise ConfigError("Upload a labelled CSV (columns text,label) or press “Use sample data” first.")
    data = evaluate.read_labelled(pool_csv)
    pool, rows = (data, evaluate.read_labelled(eval_csv)) if eval_csv else evaluate.split(data, pool_share, seed)
    selection, test = select.split(rows, test_split, seed)
    kept = select.disjoint_pool(pool, selection, test)
    return Data(kept, selection, test, select.labels_of(kept, selection, test), len(pool) - len(kept))


@dataclass(frozen=True)
class Outcome:
    """A strategy's choice with the figures it is judged by (all on the same test rows)."""

    choice: select.Choice
    draws: select.Draws
    majority: float
    data: Data
    calibration: str


def run(scorer, prompt: FewShotPrompt, data: Data, method: str, k: int, budget: int, calibration: str, seed: int,
        progress: select.Progress | None = None, stop: threading.Event | None = None, draws: int = DRAWS) -> Outcome:
    """Choose with `method`, then score `draws` random draws of the same k on the same test rows."""
    calibrate.check_methods([calibration])
    if not 1 <= draws <= 50:
        raise ConfigError(f"Random draws must be between 1 and 50, got {draws}.")
    choice = select.choose(method, scorer, prompt, data.pool, data.selection, data.test, k, data.labels,
                           calibration, budget, seed, progress, stop)
    baseline = select.random_draws(scorer, prompt, data.pool, data.test, k, data.labels, calibration, draws, seed)
    return Outcome(choice, baseline, select.majority(data.test), data, calibration)


def report(o: Outcome, query: str) -> dict:
    """The outcome as JSON (the API's answer, the CLI's --format json with the examples for `query`)."""
    c, d = o.choice, o.data
    out = {
        "method": c.method, "k": c.k, "calibration": o.calibration, "labels": d.labels,
        "rows": {"pool": len(d.pool), "pool_dropped": d.dropped, "selection": len(d.selection), "test": len(d.test)},
        "examples": [e.model_dump() for e in c.examples_for(query)], "per_query": c.index is not None,
        "selection_accuracy": c.selection_accuracy, "test_accuracy": c.test_accuracy,
        "random": {"mean": o.draws.mean, "std": o.draws.std, "accuracies": list(o.draws.accuracies)},
        "majority": o.majority, "warnings": list(c.warnings),
    }
    if c.search is not None:
        out["search"] = {"candidates": len(c.search.tried), "budget": c.search.budget, "stopped": c.search.stopped,
                         "seconds": round(c.search.seconds, 1),
                         "candidates_per_minute": round(c.search.per_minute, 1)}
    return out


def figures(o: Outcome) -> str:
    """The figures as a Markdown table: our words and numbers only, nothing from the user's file."""
    d = o.data
    rows = [
        ("chosen examples · selection split (chosen on)", len(d.selection), f"{o.choice.selection_accuracy:.1%}"),
        ("**chosen examples · test split (held out)**", len(d.test), f"**{o.choice.test_accuracy:.1%}**"),
        (f"random {o.choice.k} examples · test split, mean ± std of {len(o.draws.accuracies)} draws", len(d.test),
         f"{o.draws.mean:.1%} ± {o.draws.std:.1%}"),
        ("always the majority label · test split", len(d.test), f"{o.majority:.1%}"),
    ]
    return "\n".join(["| what | n rows | accuracy |", "|---|--:|--:|", *(f"| {w} | {n} | {a} |" for w, n, a in rows)])


def headline(o: Outcome) -> str:
    """One line in our own words and numbers only (labels and texts from the file are shown in tables)."""
    c, gain = o.choice, (o.choice.test_accuracy - o.draws.mean) * 100
    verdict = "better than" if gain > 0 else "no better than"
    line = (f"**{c.method}**, k = {c.k}, calibration {o.calibration}: {c.test_accuracy:.1%} on the held-out test "
            f"rows, {gain:+.1f} points against random draws — {verdict} picking at random on these rows.")
    if c.search is not None:
        s = c.search
        line += (f" Search: {len(s.tried)} of {s.budget} candidates in {s.seconds:.0f} s ({s.per_minute:.0f} a "
                 "minute)" + (", stopped: the best so far is kept." if s.stopped else "."))
    if c.index is not None:
        line += " `similar` picks per query: the table shows the examples for the current query."
    if len(o.data.test) < 30:
        line += f" Only {len(o.data.test)} test rows: one row moves the accuracy {1 / len(o.data.test):.0%}."
    return line


def keep_pool(pool: pd.DataFrame, folder: Path) -> str:
    """Save the pool `similar` chose from as folder/pools/<content hash>.csv; the reference (relative to
    `folder`) a preset keeps, so `select.chooser_for(strategy, base=folder)` finds it and nothing else."""
    text = pool.to_csv(index=False)
    reference = f"pools/{hashlib.sha256(text.encode()).hexdigest()[:16]}.csv"
    try:
        (folder / "pools").mkdir(parents=True, exist_ok=True)
        (folder / reference).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot keep the pool for the preset in {folder}: {exc.strerror}.") from None
    return reference


def strategy_of(o: Outcome, folder: Path) -> dict | None:
    """The preset strategy an applied choice stands for: `similar` with its pool, or None for a fixed set."""
    if o.choice.index is None:
        return None
    return presets.ExampleStrategy(method="similar", k=o.choice.k, pool=keep_pool(o.data.pool, folder)).model_dump()


def example_rows(examples: tuple[Example, ...]) -> list[list[str]]:
    return [[str(i), e.input, e.output] for i, e in enumerate(examples, start=1)] or [["", "", ""]]


def build(page: Page) -> None:
    with gr.Tab("Choose examples", id="choose-examples", elem_id="choose-examples"):
        gr.Markdown("Which k examples, in which order? Upload a labelled CSV (`text,label`): examples come from its "
                    "pool, the strategy chooses on a *selection* split and is reported on a separate *test* split "
                    "next to random draws of the same k, every label scored on the embedded model. Without an "
                    "evaluation CSV, a seeded *pool share* of the one CSV is the pool, the rest the evaluation rows.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=280):
                pool_file = gr.File(label="Labelled CSV (pool)", file_types=[".csv"], type="filepath", height=110,
                                    elem_id="select-pool")
                eval_file = gr.File(label="Evaluation CSV (optional)",
                                    file_types=[".csv"], type="filepath", height=110, elem_id="select-eval")
                sample_btn = gr.Button("Use sample data (36 tweets)", size="sm", elem_id="select-sample")
            with gr.Column(scale=4, min_width=320):
                with gr.Row():
                    method = gr.Radio(list(select.METHODS), value="search", label="Method", elem_id="select-method",
                                      info="random · balanced (every label) · similar (nearest per query) · search")
                with gr.Row():
                    k = gr.Slider(1, 8, value=4, step=1, label="k (examples)", elem_id="select-k")
                    budget = gr.Number(32, label="Budget (candidates)", precision=0, minimum=1, maximum=512,
                                       elem_id="select-budget", info="search only")
                with gr.Row():
                    calibration = gr.Dropdown(list(calibrate.METHODS), value="batch", label="Calibration",
                                              elem_id="select-calibration")
                    seed = gr.Number(0, label="Seed", precision=0, elem_id="select-seed")
                    draws = gr.Number(DRAWS, label="Random draws", precision=0, minimum=1, maximum=50,
                                      elem_id="select-draws", info="the baseline")
                with gr.Row():
                    pool_share = gr.Slider(0.2, 0.8, value=0.5, step=0.05, label="Pool share (one CSV)",
                                           elem_id="select-pool-share")
                    test_split = gr.Slider(0.2, 0.8, value=0.5, step=0.05, label="Test share of evaluation rows",
                                           elem_id="select-test-split")
            with gr.Column(scale=1, min_width=150):
                find_btn = gr.Button("Find examples", variant="primary", elem_id="select-find")
                stop_btn = gr.Button("Stop", variant="stop", size="sm", elem_id="select-stop")
                apply_btn = gr.Button("Apply to the prompt", size="sm", elem_id="select-apply", interactive=False)
                orders_btn = gr.Button("Order sensitivity", size="sm", elem_id="select-orders")
        status = gr.Markdown(elem_id="select-status", elem_classes="status")
        with gr.Row(equal_height=False):
            chosen = gr.Dataframe(example_rows(()), headers=["#", "Input", "Output"], datatype=["str"] * 3,
                                  interactive=False, wrap=True, label="Chosen examples, in prompt order", scale=3,
                                  elem_id="select-chosen")
            with gr.Column(scale=2):
                table = gr.Markdown(elem_id="select-figures")
                notes = gr.Textbox(label="Warnings", visible=False, interactive=False, elem_id="select-warnings")
                orders = gr.Markdown(elem_id="select-order-result")
        outcome = gr.State(None)  # this session's last Outcome: what Apply writes

    settings = [pool_file, eval_file, pool_share, test_split, seed]

    def data_of(values: dict) -> Data:
        return load_data(values[pool_file], values[eval_file], float(values[pool_share]),
                         float(values[test_split]), int(values[seed] or 0))

    def prompt_of(values: dict) -> FewShotPrompt:
        if values[page.text.raw_mode]:
            raise ConfigError("Choosing examples puts them into the fields: untick Edit raw prompt (and parse your "
                              "text into the fields) first.")
        return page.read_prompt(values)

    @shows_errors
    def find(values: dict, request: gr.Request, progress=gr.Progress()):  # noqa: B008 - Gradio's progress hook
        """Run the strategy; the search reports candidates and ETA and stops on Stop, keeping the best."""
        data, prompt = data_of(values), prompt_of(values)
        start, cancel = time.monotonic(), threading.Event()

        def tick(done: int, total: int) -> None:
            eta = (time.monotonic() - start) / done * (total - done)
            progress(done / total, desc=f"{done}/{total} candidates · about {eta:.0f} s left")

        page.services.started(request.session_hash, cancel)
        try:
            progress(0, desc="scoring…")
            o = run(page.services.embedded(), prompt, data, values[method], int(values[k]), int(values[budget] or 1),
                    values[calibration], int(values[seed] or 0), tick, cancel, int(values[draws] or DRAWS))
        finally:
            page.services.finished(request.session_hash, cancel)
        warnings = "\n".join(o.choice.warnings)
        return {outcome: o, status: headline(o), table: figures(o),
                chosen: example_rows(o.choice.examples_for(values[page.fields.query] or "")),
                notes: gr.update(value=warnings, visible=bool(warnings)), apply_btn: gr.update(interactive=True)}

    def stop(request: gr.Request) -> None:
        page.services.stop(request.session_hash)

    @shows_errors
    def apply(values: dict):
        """The chosen examples (for `similar`: the ones for the current query) into the examples table."""
        o: Outcome | None = values[outcome]
        if o is None:
            raise ConfigError("Press Find examples first: there is nothing chosen to apply yet.")
        examples = o.choice.examples_for(values[page.fields.query] or "")
        strategy = strategy_of(o, page.services.store.folder)
        gr.Info(f"Applied {len(examples)} examples to the prompt: Compare, Share and Get code use them now."
                + (" Presets and links keep the rule (the nearest pool rows per query) with its pool." if strategy
                   else ""))
        return {page.fields.examples: examples_to_rows(examples), chosen: example_rows(examples),
                page.strategy: strategy}

    @shows_errors
    def sensitivity(values: dict, progress=gr.Progress()):  # noqa: B008
        """Accuracy of the examples table in up to 24 orders, on the test split."""
        data, prompt = data_of(values), prompt_of(values)
        progress(0, desc="scoring the orders…")
        r = select.order_sensitivity(page.services.embedded(), prompt, data.test, data.labels, values[calibration],
                                     seed=int(values[seed] or 0))
        spread = (r.max - r.min) * 100
        return (f"**Order sensitivity** of the {len(prompt.examples)} examples in the table, {len(r.orders)} orders on "
                f"{len(data.test)} test rows: min {r.min:.1%} · median {r.median:.1%} · max {r.max:.1%} "
                f"(this order {r.accuracies[0]:.1%}; spread {spread:.0f} points"
                + (": the order matters here)." if spread >= 5 else ")."))

    sample_btn.click(lambda: (str(SAMPLE), None), None, [pool_file, eval_file], **HIDDEN)
    find_btn.click(find, page.prompt_inputs | {page.text.raw_mode, method, k, budget, calibration, draws, *settings},
                   [outcome, status, table, chosen, notes, apply_btn], **HIDDEN, **MODEL_WORK)
    stop_btn.click(stop, None, None, concurrency_limit=None, **HIDDEN)
    apply_btn.click(apply, {outcome, page.fields.query}, [page.fields.examples, chosen, page.strategy], **HIDDEN)
    # Examples edited by hand are a fixed list again: the preset no longer keeps a `similar` rule.
    page.fields.examples.input(lambda: None, None, page.strategy, **HIDDEN)
    orders_btn.click(sensitivity, page.prompt_inputs | {page.text.raw_mode, calibration, *settings}, orders, **HIDDEN,
                     **MODEL_WORK)
