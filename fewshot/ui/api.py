"""The public API ("Use via API"): `run`, `evaluate`, `probe` and `select`, typed and named.

Each takes a whole preset as JSON (the format of presets/*.json and of exported presets), so a
script needs no widget positions. Endpoints named in a preset get tokens from the environment
only (HF_TOKEN, OPENAI_API_KEY, FEWSHOT_API_KEY: see fewshot/backends). Every UI event is private.
"""

from __future__ import annotations

import json
from typing import Any

import gradio as gr

from .. import calibrate, grid, presets
from .. import evaluate as evaluate_lib
from ..backends import make_backend
from ..backends.base import Completion
from ..errors import ConfigError, FewShotError
from . import choose_examples
from .compare import MODEL_WORK, stream_cells
from .errors import shows_errors
from .evaluate import DEFAULT_CALIBRATION, make_job
from .probe import build_api as build_probe_api
from .state import Page


def preset_of(preset: dict | str | None):
    """A preset from its JSON (an object, or its text); ConfigError naming the field that is wrong."""
    text = preset if isinstance(preset, str) else json.dumps(preset if preset is not None else {})
    return presets.parse_preset(text, source="The preset")


def completion_record(column: int, sample: int, c: Completion | None) -> dict[str, Any]:
    if c is None:
        return {"column": column, "sample": sample, "text": "", "done": False}
    return {"column": column, "sample": sample, "text": c.text, "done": c.done, "finish_reason": c.finish_reason,
            "completion_tokens": c.completion_tokens, "prompt_tokens": c.prompt_tokens,
            "seconds": round(c.seconds, 3), "backend": c.backend, "model": c.model, "seed": c.seed,
            "error": c.error, "settings": c.settings.model_dump(mode="json") if c.settings else None}


def build(page: Page) -> None:
    with gr.Column(visible=False):  # the API's inputs and outputs; nothing on the page
        preset_in = gr.JSON(label="preset")
        query_in = gr.Textbox(label="query")
        completions_out = gr.JSON(label="completions")
        csv_in = gr.File(label="csv", file_types=[".csv"], type="filepath")
        labels_in = gr.Textbox(label="labels")
        rows_in = gr.Number(100, label="rows", precision=0)
        calibrate_in = gr.CheckboxGroup(list(calibrate.METHODS), value=DEFAULT_CALIBRATION, label="calibrate")
        shots_in = gr.Textbox("0, 4, 8", label="shots")
        draws_in = gr.Number(3, label="draws", precision=0)
        balanced_in = gr.Checkbox(False, label="balanced")
        split_in = gr.Number(0.5, label="split")
        pool_in = gr.File(label="pool", file_types=[".csv"], type="filepath")
        scoring_in = gr.CheckboxGroup(list(evaluate_lib.SCORING), value=["labels"], label="scoring")
        seed_in = gr.Number(0, label="seed", precision=0)
        endpoint_in = gr.Textbox("", label="endpoint")
        results_out = gr.JSON(label="results")
        pool_in = gr.File(label="pool", file_types=[".csv"], type="filepath")
        data_in = gr.File(label="data", file_types=[".csv"], type="filepath")
        k_in = gr.Number(4, label="k", precision=0)
        method_in = gr.Textbox("search", label="method")
        budget_in = gr.Number(32, label="budget", precision=0)
        calibration_in = gr.Textbox("batch", label="calibration")
        test_split_in = gr.Number(0.5, label="test_split")
        seed_in = gr.Number(0, label="seed", precision=0)
        draws_in = gr.Number(5, label="draws", precision=0)
        chosen_out = gr.JSON(label="chosen")
        trigger = gr.Button(visible=False)

    @shows_errors
    def run(preset: dict, query: str | None, request: gr.Request):
        """Run every column of `preset` (each sampled `preset.samples` times) on `query`, or on the preset's
        own query when it is empty. Streams the list of completions, one per column × sample
        ({column, sample, text, done, finish_reason, completion_tokens, seconds, backend, model, error, settings});
        the last list has every completion done."""
        p = preset_of(preset)
        if query:
            p = p.model_copy(update={"query": query})
        cells = grid.column_cells([(c.settings, c.backend) for c in p.columns], p.samples)
        backends: dict = {}
        for key in {c.backend for c in cells}:
            try:
                backends[key] = make_backend(p.endpoints[key]) if key else page.services.embedded()
            except FewShotError as exc:
                backends[key] = exc
        for latest in stream_cells(page, request.session_hash, backends, p.prompt, cells):
            yield [completion_record(cell_column + 1, cell.sample + 1, c)
                   for cell_column, cell, c in ((i // p.samples, cell, c)
                                                for i, (cell, c) in enumerate(zip(cells, latest, strict=True)))]

    @shows_errors
    def evaluate(preset: dict, csv: str, labels: str | None, rows: int, calibrate: list[str], shots: str, draws: int,
                 balanced: bool, split: float, pool: str | None, scoring: list[str], seed: int,
                 endpoint: str | None) -> dict:
        """Accuracy of `preset`'s prompt on a labelled CSV (columns text,label; at most `rows` evaluation rows)
        over a grid of `shots` (comma-separated) × `calibrate` (none, contextual, batch, domain) × `scoring`
        (labels, generate), each cell the mean ± std over `draws` seeded example draws (`balanced`: labels in
        turn). Examples come from `pool` (a CSV) if given, else from a seeded `split` of `csv` (the pool's
        share, 0 < split < 1), else (split 0) from the preset's own examples. `endpoint`: empty = the embedded
        model, else A/B/C of the preset (token from the environment). `labels`: comma-separated, default the
        data's. Returns {cells: [{shots, calibrate, scoring, accuracy, accuracy_std, n, draws, per_label}],
        labels, majority_label, majority_baseline, rows, pool, stopped, confusion: [{shots, calibrate, scoring,
        true, predicted, count}], failures: [{shots, calibrate, scoring, draw, input, expected, got, probability}]}."""
        p = preset_of(preset)
        key = (endpoint or "").strip()
        if key and key not in p.endpoints:
            raise ConfigError(f"The preset has no endpoint {key!r}: leave endpoint empty for the embedded model, or "
                              f"use one of {', '.join(p.endpoints) or '(none in this preset)'}.")
        try:
            backend = make_backend(p.endpoints[key]) if key else page.services.embedded()
        except FewShotError as exc:
            backend = exc
        source = "csv" if pool else ("split" if split else "examples")
        job = make_job(backend, p.prompt, csv, pool_source=source, pool_csv=pool, fraction=float(split or 0.5),
                       seed=int(seed or 0), limit=int(rows or 100), labels=labels, shots=shots or "0, 4, 8",
                       calibrate_methods=calibrate or DEFAULT_CALIBRATION, scoring=scoring or ["labels"],
                       draws=int(draws or 3), balanced=bool(balanced))
        result = job.run()
        return {"cells": [c.row() for c in result.cells], "labels": list(result.labels),
                "majority_label": result.majority[0], "majority_baseline": result.majority[1],
                "rows": len(job.rows), "pool": len(job.pool), "stopped": result.stopped,
                "confusion": result.confusion_frame().to_dict(orient="records"),
                "failures": [{"shots": c.shots, "calibrate": c.calibrate, "scoring": c.scoring, "draw": f.draw,
                              "input": f.input, "expected": f.expected, "got": f.got, "probability": f.probability}
                             for c in result.cells for f in c.failures]}

    @shows_errors
    def select(preset: dict, pool: str, data: str | None, k: int, method: str, budget: int, calibration: str,
               test_split: float, seed: int, draws: int) -> dict:
        """Choose k examples for `preset`'s prompt from the labelled CSV `pool` (text,label) with `method`
        (random, balanced, similar, search), scored on the embedded model. Rows to choose and test on come
        from `data`, or, when it is empty, from a seeded half of `pool`; they are split into selection and
        test rows (`test_split` of them for the test); `draws` random sets of k are the baseline. Returns
        {method, k, calibration, labels, rows, examples (for `similar`: the ones for the preset's query), per_query,
        selection_accuracy, test_accuracy, random {mean, std, accuracies}, majority, warnings,
        search {candidates, seconds, ...}}."""
        p = preset_of(preset)
        rows = choose_examples.load_data(pool, data or None, 0.5, float(test_split), int(seed))
        o = choose_examples.run(page.services.embedded(), p.prompt, rows, method, int(k), int(budget), calibration,
                                int(seed), draws=int(draws))
        return choose_examples.report(o, p.query)

    trigger.click(run, [preset_in, query_in], completions_out, api_name="run", show_progress="hidden", **MODEL_WORK)
    trigger.click(evaluate, [preset_in, csv_in, labels_in, rows_in, calibrate_in, shots_in, draws_in, balanced_in,
                             split_in, pool_in, scoring_in, seed_in, endpoint_in], results_out, api_name="evaluate",
                  **MODEL_WORK)
    trigger.click(select, [preset_in, pool_in, data_in, k_in, method_in, budget_in, calibration_in, test_split_in,
                           seed_in, draws_in], chosen_out, api_name="select", **MODEL_WORK)
    build_probe_api(page)  # `probe`: fewshot/ui/probe.py
