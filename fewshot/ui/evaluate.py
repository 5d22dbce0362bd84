"""The Evaluate tab: accuracy of the current prompt on a labelled CSV (text,label) over a grid of
shots × calibration × scoring, each cell mean ± std over example draws, next to the majority baseline;
on the embedded model or an endpoint. A progress bar with rows/s and ETA; Stop keeps finished cells.

`make_job` (the panel's or the API's values -> a `Job`, refused with a one-line message) is shared
with the public API (api.py); `watch` runs a Job in a thread, reports progress and honours Stop.
The work is `fewshot.evaluate.run_grid`; the tables and chart come from `fewshot.evalview`.
"""

from __future__ import annotations

import html
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from .. import calibrate, evaluate, evalview, presets
from ..backends.base import CannotScore, scorer_for
from ..errors import ConfigError, FewShotError
from ..evaluate import GridResult
from ..prompt import FewShotPrompt
from .compare import MODEL_WORK
from .errors import shows_errors
from .state import Page

POLL = 0.5  # seconds between two progress updates
SCORING_CHOICES = [("Label log-probability", "labels"), ("Generation (greedy, first line → label)", "generate")]
BACKEND_CHOICES = [("Embedded model", "")] + [(f"Endpoint {n} (see Backends)", n) for n in presets.ENDPOINTS]
DEFAULT_CALIBRATION = ["none", "batch"]  # raw beside Batch Calibration, the default method on a CSV


@dataclass(frozen=True)
class Job:
    """One evaluation grid, ready to run: `run_grid`'s arguments."""

    backend: object
    prompt: FewShotPrompt
    pool: pd.DataFrame
    rows: pd.DataFrame
    labels: list[str] | None
    shots: list[int]
    calibrate: list[str]
    scoring: list[str]
    draws: int
    balanced: bool
    seed: int

    def run(self, progress=None, stop=None) -> GridResult:
        return evaluate.run_grid(self.backend, self.prompt, self.pool, self.rows, self.labels, shots=self.shots,
                                 calibrate=self.calibrate, scoring=self.scoring, draws=self.draws,
                                 balanced=self.balanced, seed=self.seed, progress=progress, stop=stop)


def make_job(backend, prompt: FewShotPrompt, csv: str | None, *, pool_source: str = "split",
             pool_csv: str | None = None, fraction: float = 0.5, seed: int = 0, limit: int = 100,
             labels: str | None = None, shots: str | Sequence[int] = "0, 4, 8",
             calibrate_methods: Sequence[str] = DEFAULT_CALIBRATION, scoring: Sequence[str] = ("labels",),
             draws: int = 3, balanced: bool = False) -> Job:
    """A Job from the panel's (or the API's) values; ConfigError naming what to fix."""
    if isinstance(backend, FewShotError):
        raise backend
    scoring = list(scoring or [])
    if not scoring:
        raise ConfigError("Choose a scoring mode: label log-probability or generation.")
    methods = list(calibrate_methods or []) or ["none"]
    if "labels" in scoring:
        scorer_for(backend)  # a backend that cannot score says so before any work
    pool, rows = evalview.pool_and_rows(csv, pool_source, pool_csv=pool_csv, fraction=fraction, seed=int(seed or 0),
                                        limit=int(limit or evaluate.MAX_ROWS), examples=prompt.examples)
    return Job(backend, prompt, pool, rows, evaluate.parse_labels(labels), evalview.parse_shots(shots),
               calibrate.check_methods(methods), scoring, int(draws or 1), bool(balanced), int(seed or 0))


@dataclass
class Progress:
    """What the worker thread reports: rows scored of the total, since `started`."""

    done: int = 0
    total: int = 0
    started: float = 0.0

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def line(self) -> str:
        return evalview.rate_line(self.done, self.total, time.monotonic() - self.started)


def watch(page: Page, session: str, job: Job) -> Iterator[tuple[Progress, GridResult | None]]:
    """Run `job` in a thread; yield (progress, None) every POLL seconds, then (progress, result). The
    session's Stop sets the flag: run_grid returns the cells finished so far. Errors are re-raised here."""
    stop, progress = threading.Event(), Progress(started=time.monotonic())
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["result"] = job.run(progress, stop)
        except Exception as exc:  # handed to the handler's thread, which shows or raises it
            outcome["error"] = exc

    page.services.started(session, stop)
    thread = threading.Thread(target=work, daemon=True, name="evaluate")
    thread.start()
    try:
        while thread.is_alive():
            thread.join(POLL)
            yield progress, None
    finally:
        stop.set()  # the browser left: no reason to keep the CPU busy
        page.services.finished(session, stop)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    yield progress, outcome["result"]  # type: ignore[misc]


RUN_STATES = {"running": "⏳", "done": "✓ done", "stopped": "✓ stopped"}


def progress_html(p: Progress, state: str = "running") -> str:
    """A real <progress> bar and the rows/s · ETA line (numbers only: nothing from the data)."""
    state = RUN_STATES[state]
    return (f'<div class="eval-progress"><progress value="{p.done}" max="{max(p.total, 1)}" style="width:100%">'
            f"</progress><span>{state} {p.line()}</span></div>")


def build(page: Page) -> None:
    with gr.Tab("Evaluate", id="evaluate", elem_id="evaluate"):
        gr.Markdown(
            "How accurate is this prompt on your data, and with how many examples? Upload a CSV with the columns "
            "`text,label`: each evaluation row becomes the query; demonstrations are drawn from the example pool "
            "(never from the rows scored), several times, so each accuracy is a mean ± std over draws. *Label "
            "log-probability* scores every label after the prompt; *calibration* divides out the prompt's label "
            "bias — *batch* (the mean over the evaluated rows, Zhou et al. 2024) is the default, *contextual* uses "
            "the content-free inputs “N/A”, “” and “[MASK]” (Zhao et al. 2021), *domain* random in-domain words "
            "(Fei et al. 2023). *Generation* asks for a greedy answer and maps its first line to a label; it "
            "works on every backend and has no calibration.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                file = gr.File(label="Labelled CSV (text,label)", file_types=[".csv"], type="filepath",
                               elem_id="eval-file", height=110)
                with gr.Row():
                    pool_source = gr.Radio([(v, k) for k, v in evalview.POOL_LABELS.items()], value="split",
                                           label="Example pool", elem_id="eval-pool-source", scale=2)
                    fraction = gr.Slider(0.1, 0.9, value=0.5, step=0.05, label="Pool share of the CSV",
                                         info="Used when splitting the CSV.", elem_id="eval-fraction", scale=1)
                pool_file = gr.File(label="Pool CSV (text,label)", file_types=[".csv"], type="filepath",
                                    elem_id="eval-pool-file", height=110, visible=False)
            with gr.Column(scale=3, min_width=300):
                with gr.Row():
                    shots = gr.Textbox("0, 4, 8", label="Shots", info="Numbers of examples, comma-separated.",
                                       elem_id="eval-shots")
                    draws = gr.Slider(1, 10, value=3, step=1, label="Draws", info="Example draws per number of shots.",
                                      elem_id="eval-draws")
                with gr.Row():
                    labels = gr.Textbox(label="Labels", placeholder="default: the labels found in the data",
                                        elem_id="eval-labels", info="Comma-separated, as the outputs in your examples.")
                    limit = gr.Number(100, label="Rows (limit)", precision=0, minimum=1, maximum=evaluate.MAX_ROWS,
                                      elem_id="eval-limit", info="Evaluation rows used at most.")
                with gr.Row():
                    seed = gr.Number(0, label="Seed", precision=0, elem_id="eval-seed",
                                     info="Of the split and the draws.")
                    balanced = gr.Checkbox(False, label="Balanced draws", elem_id="eval-balanced",
                                           info="Take the labels in turn.")
            with gr.Column(scale=2, min_width=260):
                methods = gr.CheckboxGroup(list(calibrate.METHODS), value=DEFAULT_CALIBRATION, label="Calibration",
                                           elem_id="eval-calibrate")
                scoring = gr.CheckboxGroup(SCORING_CHOICES, value=["labels"], label="Scoring",
                                           elem_id="eval-scoring")
                runs_on = gr.Dropdown(BACKEND_CHOICES, value="", label="Runs on", elem_id="eval-backend")
                with gr.Row():
                    button = gr.Button("Evaluate", variant="primary", elem_id="run-eval")
                    stop = gr.Button("Stop", variant="stop", elem_id="stop-eval")
        status = gr.HTML(elem_id="eval-progress")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                chart = gr.HTML(elem_id="eval-chart", min_height=120)
            with gr.Column(scale=2, min_width=280):
                result_line = gr.Textbox(label="Summary", interactive=False, lines=3, elem_id="eval-summary")
                cells = gr.Dataframe(label="Grid cells: accuracy as mean ± std over the draws", interactive=False,
                                     elem_id="eval-cells", wrap=True)
        with gr.Row(equal_height=False):
            per_label = gr.Dataframe(label="Per-label precision / recall", interactive=False, elem_id="eval-per-label",
                                     max_height=300)
            confusion = gr.Dataframe(label="Confusion of the best cell: true (rows) × predicted (columns)",
                                     interactive=False, elem_id="eval-confusion", max_height=300)
        failures = gr.Dataframe(label="Failures (input, expected, got, probability)", interactive=False, wrap=True,
                                elem_id="eval-failures", max_height=360)
        with gr.Row():
            downloads = {name: gr.DownloadButton(f"⬇ {title} CSV", visible=False, size="sm", elem_id=f"eval-dl-{name}")
                         for name, title in (("cells", "Cells"), ("per_label", "Per-label"),
                                             ("confusion", "Confusion"), ("failures", "Failures"))}

    outputs = [status, chart, result_line, cells, per_label, confusion, failures, scoring, *downloads.values()]

    def shown(job: Job, p: Progress, result: GridResult) -> dict:
        """Every result widget for a finished (or stopped) grid."""
        folder = tempfile.mkdtemp(prefix="fewshot-eval-")
        paths = evalview.write_csvs(result, folder)
        best = evalview.best_cell(result)
        return {status: progress_html(p, "stopped" if result.stopped else "done"), chart: evalview.chart_svg(result),
                result_line: evalview.summary(result, len(job.pool), len(job.rows)),
                cells: evalview.cells_table(result), per_label: evalview.per_label_table(result),
                confusion: best.confusion_frame().reset_index() if best else pd.DataFrame(),
                failures: evalview.failures_table(result)} | {
            downloads[name]: gr.update(value=str(path), visible=True) for name, path in paths.items()}

    @shows_errors
    def run_evaluation(values: dict, request: gr.Request):
        """The grid for the current prompt on the uploaded CSV, with progress; Stop keeps finished cells."""
        if values[page.text.raw_mode]:
            raise ConfigError("Evaluation puts each row into the query of the task and examples: untick Edit raw "
                              "prompt (and parse your text into the fields) first.")
        state = page.read(values)
        backend = state.backends([values[runs_on] or ""])[values[runs_on] or ""]
        try:
            job = make_job(backend, state.prompt, values[file], pool_source=values[pool_source],
                           pool_csv=values[pool_file], fraction=values[fraction], seed=values[seed],
                           limit=values[limit], labels=values[labels], shots=values[shots],
                           calibrate_methods=values[methods], scoring=values[scoring], draws=values[draws],
                           balanced=values[balanced])
            for p, result in watch(page, request.session_hash, job):
                yield shown(job, p, result) if result is not None else {status: progress_html(p)}
        except CannotScore as exc:  # before any work, or at the first score (llama_cpp.server): offer generation
            yield {status: f"<p>⚠️ {html.escape(str(exc))} Generation is now ticked: press Evaluate again.</p>",
                   scoring: ["generate"]}

    def pool_widgets(source: str) -> dict:
        """The pool CSV appears when the pool is a separate CSV; the share applies to a split only."""
        return {pool_file: gr.update(visible=source == "csv"), fraction: gr.update(interactive=source == "split")}

    def stop_evaluation(request: gr.Request) -> None:
        page.services.stop(request.session_hash)

    button.click(run_evaluation, page.inputs | {file, pool_source, fraction, pool_file, shots, draws, labels, limit,
                                                seed, balanced, methods, scoring, runs_on},
                 outputs, api_visibility="private", show_progress="hidden", **MODEL_WORK)
    pool_source.change(pool_widgets, pool_source, [pool_file, fraction], api_visibility="private",
                       show_progress="hidden")
    stop.click(stop_evaluation, None, None, api_visibility="private", concurrency_limit=None)
