"""The Sweep tab: many values of one setting on the same prompt, each sampled as often as asked, with
a table of completions and the answers per value (settings and backend from column 1)."""

from __future__ import annotations

import gradio as gr

from .. import grid, presets
from ..backends.base import FINISH_LABELS
from ..settings import format_value
from .compare import MODEL_WORK, answer_chart, distribution_plot, stream_cells
from .errors import shows_errors
from .state import Page


def build(page: Page) -> None:
    with gr.Tab("Sweep", id="sweep", elem_id="sweep"):
        gr.Markdown("Try many values of one setting on the same prompt, every value sampled as often as you like; "
                    "the other settings and the backend come from column 1. All rows run together.")
        with gr.Row(equal_height=True):
            key = gr.Dropdown(list(grid.SWEEP_KEYS), value="temperature", label="Setting", scale=1)
            values_box = gr.Textbox("0, 0.3, 0.6, 0.9, 1.2", label="Values (comma-separated)", scale=2,
                                    elem_id="sweep-values")
            samples = gr.Slider(1, presets.MAX_SAMPLES, value=5, step=1, label="Samples per value", scale=2)
            button = gr.Button("Run sweep", variant="primary", scale=1, elem_id="run-sweep")
        status = gr.Markdown(elem_id="sweep-status")
        with gr.Row(equal_height=False):
            plot = answer_chart("Answers per value", "value", scale=2, elem_id="sweep-plot")
            table = gr.Dataframe(headers=["value", "sample", "completion", "finish", "tokens", "seconds"],
                                 interactive=False, wrap=True, elem_id="sweep-table", label="Completions", scale=3,
                                 max_height=420)

    @shows_errors
    def run_sweep(values: dict, request: gr.Request):
        """Every value of one setting (the rest, and the backend, from column 1), each sampled several times."""
        state, name = page.read(values), values[key]
        first = state.columns[0]
        cells = grid.expand(first.settings, {name: grid.parse_axis(name, values[values_box])}, int(values[samples]),
                            first.backend)
        updates = stream_cells(page, request.session_hash, state.backends({first.backend}), state.run_prompt, cells)
        labels = [f"{name}={format_value(name, getattr(c.settings, name, c.shots))}" for c in cells]
        for latest in updates:
            rows = [
                [labels[i], cell.sample + 1, (c.error and f"⚠️ {c.error}") or c.text if c else "",
                 FINISH_LABELS.get(c.finish_reason, "…") if c and c.done else "…",
                 c.completion_tokens if c else 0, round(c.seconds, 2) if c else 0.0]
                for i, (cell, c) in enumerate(zip(cells, latest, strict=True))
            ]
            done = sum(c is not None and c.done for c in latest)
            yield {plot: distribution_plot(grid.grouped(labels, latest)), table: rows,
                   status: f"{'✓' if done == len(cells) else '⏳'} {done}/{len(cells)} done"}

    button.click(run_sweep, page.inputs | {key, values_box, samples}, [plot, table, status], api_visibility="private",
                 show_progress="hidden", **MODEL_WORK)
