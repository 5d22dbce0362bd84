"""The Compare panel: Run / Stop, and side-by-side columns, each with its answer right under its
header, compact settings below it, and the answer distribution when a column is sampled several times."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass

import gradio as gr

from .. import evaluate, grid, presets, text
from ..backends.base import FINISH_LABELS, Completion
from ..settings import bounds, describe, format_stops
from .errors import shows_errors
from .state import SETTING_FIELDS, Page, Run

MAX_COLUMNS = presets.MAX_COLUMNS
STREAM_INTERVAL = 0.05  # seconds between UI updates while streaming: smooth without flooding the socket
LABELS = {
    "temperature": "Temperature", "max_new_tokens": "Max new tokens", "end_sequence": "End sequence",
    "top_p": "Top-p", "top_k": "Top-k", "repetition_penalty": "Repetition penalty", "seed": "Seed",
}
SLIDER_STEPS = {"temperature": 0.05, "max_new_tokens": 1, "top_p": 0.01, "top_k": 1, "repetition_penalty": 0.01}
MAIN_SETTINGS = ("temperature", "max_new_tokens", "end_sequence")  # the rest sit under "More settings"
HELP = {name: describe(name) for name in SETTING_FIELDS} | {
    "end_sequence": "Ends the completion; cut from the text. Several: separate with |. Line break: \\n.",
}
# The engine merges concurrent users' rows into the same decode steps, so runs need not queue here.
MODEL_WORK = {"concurrency_limit": 8, "concurrency_id": "model"}


@dataclass(frozen=True)
class ColumnControls:
    box: gr.Column
    backend: gr.Dropdown
    settings: list  # one widget per SETTING_FIELDS entry
    text: gr.Textbox
    status: gr.Markdown
    good: gr.Button
    bad: gr.Button
    add: gr.Button
    pick: gr.Number  # which sample 👍/👎 rate when the column has several


@dataclass(frozen=True)
class ComparePanel:
    n_columns: gr.Slider
    samples: gr.Slider
    run: gr.Button
    stop: gr.Button
    columns: tuple[ColumnControls, ...]
    plot: gr.BarPlot


def setting_widget(i: int, name: str, value):
    """The widget for one settings field; range and help text (one line, in full on hover) from the schema."""
    kw = {"label": LABELS[name], "elem_id": f"c{i}-{name}", "info": HELP[name]}
    if name in SLIDER_STEPS:
        low, high = bounds(name)
        return gr.Slider(low, high, value=value, step=SLIDER_STEPS[name], **kw)
    if name == "end_sequence":
        return gr.Textbox(format_stops(value), **kw)
    return gr.Number(value, precision=0, **kw)  # range checked with the other settings


def column_controls(i: int, column: presets.Column) -> ColumnControls:
    s = column.settings
    with gr.Column(visible=i < 3, min_width=240, elem_classes="compare-column", elem_id=f"column-{i}") as box:
        backend = gr.Dropdown(  # the column's header: its number and where it runs
            [("Embedded model", "")] + [(f"{n} (not set)", n) for n in presets.ENDPOINTS], value=column.backend,
            label=f"Column {i + 1} · runs on", elem_id=f"c{i}-backend", elem_classes="column-head",
        )
        text = gr.Textbox(label="Answer (model-written, editable)", lines=3, max_lines=12,
                          interactive=True, buttons=["copy"], elem_classes="completion", elem_id=f"c{i}-text")
        status = gr.Markdown(elem_classes="status", elem_id=f"c{i}-status")
        with gr.Row(elem_classes="verdict"):
            good = gr.Button("👍 Good", size="sm", min_width=50, elem_id=f"c{i}-good")
            bad = gr.Button("👎 Bad", size="sm", min_width=50, elem_id=f"c{i}-bad")
            add = gr.Button("Add as example", size="sm", min_width=100, elem_id=f"c{i}-add")
            pick = gr.Number(1, label="Rate sample", precision=0, minimum=1, visible=False, min_width=70,
                             elem_id=f"c{i}-pick")
        widgets = {name: setting_widget(i, name, getattr(s, name)) for name in MAIN_SETTINGS}
        with gr.Accordion("More settings", open=False):
            for name in SETTING_FIELDS:
                if name not in widgets:
                    widgets[name] = setting_widget(i, name, getattr(s, name))
    return ColumnControls(box, backend, [widgets[name] for name in SETTING_FIELDS], text, status, good, bad, add,
                          pick)


def build(first: presets.Preset) -> ComparePanel:
    with gr.Row(equal_height=True, elem_id="compare-bar"):
        n_columns = gr.Slider(1, MAX_COLUMNS, value=len(first.columns), step=1, label="Columns", scale=2,
                              elem_id="n-columns")
        samples = gr.Slider(1, presets.MAX_SAMPLES, value=1, step=1, label="Samples per column", scale=2,
                            elem_id="samples", info="Several answers each: see how they are distributed.")
        with gr.Column(scale=1, min_width=120, elem_classes="run-stop"):
            run = gr.Button("Run", variant="primary", elem_id="run")
            stop = gr.Button("Stop", variant="stop", elem_id="stop", size="sm")
    with gr.Row(equal_height=False):
        columns = tuple(column_controls(i, first.columns[i] if i < len(first.columns) else presets.Column())
                        for i in range(MAX_COLUMNS))
    plot = answer_chart("Answers per column", "column", elem_id="dist-plot", visible=False)
    return ComparePanel(n_columns, samples, run, stop, columns, plot)


def answer_chart(label: str, x_title: str, **kw) -> gr.BarPlot:
    """A bar chart of answer counts per group. No fixed height: with one, Gradio fits the bars, axis
    labels and legend into it and cuts off the legend (drawn below the bars); without, the chart is
    as tall as it needs."""
    return gr.BarPlot(x="group", y="count", color="answer", label=label, y_title="samples", x_title=x_title,
                      color_title="answer", **kw)


def status_line(c: Completion) -> str:
    """A cell's status as Markdown; what a server or model wrote (error, model name, note) stays text."""
    if c.error:
        return f"⚠️ {text.markdown(c.error)}"
    if not c.done:
        return f"⏳ generating… {c.completion_tokens} tokens"
    seed = f" · seed {c.seed}" if c.seed is not None and c.settings and c.settings.temperature > 0 else ""
    tokens = f"{c.completion_tokens} token{'s' if c.completion_tokens != 1 else ''}"
    where = f" · {text.markdown(c.backend)} {text.markdown(c.model)}".rstrip() if c.backend != "embedded" else ""
    note = f" · ⓘ {text.markdown(c.note)}" if c.note else ""
    return f"✓ {FINISH_LABELS[c.finish_reason]} · {tokens} · {c.seconds:.2f} s{seed}{where}{note}"


def column_view(snapshots: Sequence[Completion | None]) -> tuple[str, str]:
    """A column's completion text and status line, for one sample or several."""
    if len(snapshots) == 1:
        c = snapshots[0]
        return ("", "⏳ queued") if c is None else (c.text, status_line(c))
    texts = [f"[{j + 1}] {c.text.strip()}" for j, c in enumerate(snapshots) if c is not None]
    finished = [c for c in snapshots if c is not None and c.done]
    errors = [c.error for c in finished if c.error]
    status = f"{'✓' if len(finished) == len(snapshots) else '⏳'} {len(finished)}/{len(snapshots)} samples"
    counts = evaluate.distribution([c.text for c in finished if not c.error])
    if counts:
        status += " · " + " · ".join(f"{text.markdown(label)} ×{n}" for label, n in counts[:4])
    if errors:
        status += f" · ⚠️ {text.markdown(errors[0])}"
    return "\n".join(texts), status


def distribution_plot(groups: Sequence[tuple[str, Sequence[Completion | None]]]):
    """The answers of each group's finished samples, as a bar chart (hidden until there are any)."""
    table = evaluate.distribution_table(
        [(name, [c.text for c in cs if c is not None and c.done and not c.error]) for name, cs in groups]
    )
    return gr.update(value=table, visible=not table.empty, x="group", y="count", color="answer",
                     sort=[name for name, _ in groups])


def stream_cells(page: Page, session: str, backends, prompt, cells) -> Iterator[list[Completion | None]]:
    """The latest snapshot of every cell: often while they stream, and once at the end. Registers the
    session's Stop flag; raises FewShotError at once (before the first yield) if the grid cannot start."""
    cancel = threading.Event()
    stream = grid.run(backends, prompt, cells, cancel)
    page.services.started(session, cancel)

    def updates():
        latest: list[Completion | None] = [None] * len(cells)
        last = 0.0
        try:
            with closing(stream):
                for i, c in stream:
                    latest[i] = c
                    if c.done or time.monotonic() - last > STREAM_INTERVAL:
                        last = time.monotonic()
                        yield latest
        finally:
            page.services.finished(session, cancel)
        yield latest

    return updates()


def wire(page: Page) -> None:
    panel = page.compare

    @shows_errors
    def run_columns(values: dict, request: gr.Request):
        """Stream every visible column at once; each column shows its own error if it fails."""
        state = page.read(values)
        k = state.samples
        cells = grid.column_cells([(c.settings, c.backend) for c in state.columns], k)
        updates = stream_cells(page, request.session_hash, state.backends({c.backend for c in cells}),
                               state.run_prompt, cells)
        names = [f"{i + 1}: {c.settings.label()}" for i, c in enumerate(state.columns)]
        blank = [("", "")] * (MAX_COLUMNS - len(state.columns))
        sent: dict = {}
        for latest in updates:
            per_column = grid.by_column(latest, k)
            page.services.remember(request.session_hash, Run(state, per_column))  # what 👍/👎 rate
            views = [column_view(snapshots) for snapshots in per_column] + blank
            out = {c.text: v[0] for c, v in zip(panel.columns, views, strict=True)}
            out |= {c.status: v[1] for c, v in zip(panel.columns, views, strict=True)}
            # Only what changed: a finished column is not rewritten, so a correction typed into it stays.
            changed = {widget: value for widget, value in out.items() if sent.get(widget, object()) != value}
            sent |= changed
            # One sample per column has no distribution: the chart stays hidden and no data is sent for it.
            plot = distribution_plot(list(zip(names, per_column, strict=True))) if k > 1 else gr.update(visible=False)
            yield changed | {panel.plot: plot}

    def stop(request: gr.Request) -> None:
        page.services.stop(request.session_hash)

    def ended(request: gr.Request) -> None:
        """The page was closed: its runs stop and its session leaves nothing behind."""
        page.services.ended(request.session_hash)

    def show_columns(n: int):
        return [gr.update(visible=i < n) for i in range(MAX_COLUMNS)]

    outputs = [c.text for c in panel.columns] + [c.status for c in panel.columns] + [panel.plot]
    panel.run.click(run_columns, page.inputs, outputs, api_visibility="private", show_progress="hidden", **MODEL_WORK)
    panel.stop.click(stop, None, None, api_visibility="private", concurrency_limit=None)
    page.demo.unload(ended)
    panel.n_columns.change(show_columns, panel.n_columns, [c.box for c in panel.columns], api_visibility="private",
                           show_progress="hidden")
