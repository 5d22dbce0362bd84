"""The Evaluate tab: accuracy of the current prompt on an uploaded labelled CSV (text,label), scored on
the embedded model, next to the majority baseline, with and without calibration, and the confusion table.

Runs on `fewshot.evaluate.evaluate()`; `score()` and `summary()` are shared with the public API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from .. import evaluate, text
from ..errors import ConfigError
from ..prompt import FewShotPrompt
from .compare import MODEL_WORK
from .errors import shows_errors
from .state import Page


@dataclass(frozen=True)
class Scored:
    """One evaluation run: the result, the rows it ran on and the majority baseline of those rows."""

    result: evaluate.Evaluation
    rows: int
    examples: int
    majority: tuple[str, float]


def score(page: Page, prompt: FewShotPrompt, csv_path: str | None, labels: str | None, limit: int, calibrate: bool,
          progress: Callable[[int, int], None] | None = None) -> Scored:
    """Score every label of every row on the embedded model; ConfigError for a missing or bad file."""
    if not csv_path:
        raise ConfigError("Upload a CSV file with the columns text,label first.")
    rows = evaluate.read_labelled(csv_path, int(limit))
    result = evaluate.evaluate(page.services.embedded(), prompt, rows, evaluate.parse_labels(labels), bool(calibrate),
                               progress=progress)
    return Scored(result, len(rows), len(prompt.examples), evaluate.majority_baseline(list(rows["label"])))


def summary(s: Scored) -> str:
    label, share = s.majority
    lines = [f"**Accuracy: {s.result.accuracy:.1%}** on {s.rows} rows ({s.examples} examples in the prompt). "
             f"Majority baseline: {share:.1%} (always answering “{text.markdown(label)}”)."]
    if s.result.calibrated is not None:
        bias = ", ".join(f"{text.markdown(k)} {v:.0%}" for k, v in s.result.bias.items())
        lines.append(f"Calibrated: **{s.result.calibrated_accuracy:.1%}** (for the content-free query "
                     f"“{evaluate.CONTENT_FREE}” the model leans: {bias}).")
    return "\n\n".join(lines)


def confusion(s: Scored) -> pd.DataFrame:
    return s.result.confusion().reset_index().rename(columns={"true": "true ↓ / predicted →"})


def build(page: Page) -> None:
    with gr.Tab("Evaluate", id="evaluate", elem_id="evaluate"):
        gr.Markdown("Upload a CSV with the columns `text,label`. Each row's text becomes the query; every label is "
                    "scored after the prompt on the embedded model and the likeliest one is the prediction — no "
                    "sampling. *Calibrate* divides out the bias the prompt shows for a content-free query "
                    "(“Calibrate Before Use”, Zhao et al. 2021).")
        with gr.Row(equal_height=True):
            file = gr.File(label="Labelled CSV", file_types=[".csv"], type="filepath", scale=2, elem_id="eval-file")
            with gr.Column(scale=2):
                labels = gr.Textbox(label="Labels", placeholder="default: the labels found in the file",
                                    elem_id="eval-labels", info="Comma-separated, as the outputs in your examples.")
                limit = gr.Slider(10, evaluate.MAX_ROWS, value=100, step=10, label="Rows")
                calibrate = gr.Checkbox(True, label="Calibrate")
            button = gr.Button("Evaluate", variant="primary", scale=1, elem_id="run-eval")
        result = gr.Markdown(elem_id="eval-summary")
        table = gr.Dataframe(label="Confusion: true label (rows) × prediction (columns)", interactive=False,
                             elem_id="eval-confusion")

    @shows_errors
    def run_evaluation(values: dict, progress=gr.Progress()):  # noqa: B008 - Gradio's way to report progress
        """Accuracy of the current prompt on the uploaded CSV."""
        if values[page.text.raw_mode]:
            raise ConfigError("Evaluation puts each row into the query of the task and examples: untick Edit raw "
                              "prompt (and parse your text into the fields) first.")
        scored = score(page, page.read_prompt(values), values[file], values[labels], values[limit], values[calibrate],
                       lambda done, total: progress(done / total, desc=f"{done}/{total} scored"))
        return {result: summary(scored), table: confusion(scored)}

    button.click(run_evaluation, page.prompt_inputs | {page.text.raw_mode, file, labels, limit, calibrate},
                 [result, table], api_visibility="private", **MODEL_WORK)
