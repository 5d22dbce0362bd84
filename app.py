"""Few-shot Playground: the Gradio UI. Everything testable lives in `fewshot/`; this file only wires widgets."""

from __future__ import annotations

import os
import threading
import time
from contextlib import closing
from dataclasses import dataclass

import gradio as gr

from fewshot import evaluate, grid, presets
from fewshot.backends.base import FINISH_LABELS, Completion
from fewshot.backends.local import LocalBackend
from fewshot.errors import FewShotError
from fewshot.prompt import Example, FewShotPrompt, Template, parse
from fewshot.settings import (
    GenerationSettings,
    bounds,
    describe,
    escape,
    format_stops,
    format_value,
    make_settings,
    parse_stops,
    unescape,
)

MAX_COLUMNS = presets.MAX_COLUMNS
SETTING_FIELDS = tuple(GenerationSettings.model_fields)  # one widget per field, in this order
PRESETS, PRESET_ERRORS = presets.load_folder()
MAX_SAMPLES = 10
STREAM_INTERVAL = 0.05  # seconds between UI updates while streaming: smooth without flooding the socket

_backend: LocalBackend | None = None
_backend_error = ""
_cancels: dict[str, threading.Event] = {}  # session -> the Stop flag of its running grid


def backend() -> LocalBackend:
    """The embedded backend, created on first use (the model itself loads lazily on first token count)."""
    global _backend
    if _backend is None:
        _backend = LocalBackend()
    return _backend


def model_banner() -> str:
    try:
        b = backend()
        return (
            f"**Model:** `{b.model}` (embedded, llama.cpp, {b.context_length:,}-token context, CPU). "
            "Completions below are written by this model; check them before you use them."
        )
    except FewShotError as exc:
        return f"⚠️ {exc}"


# --- widget values <-> library objects --------------------------------------------------------


def rows_to_examples(rows: list[list[str]] | None) -> tuple[Example, ...]:
    """Table rows -> examples; rows with both cells empty are ignored."""
    out = []
    for row in rows or []:
        cells = [("" if v is None else str(v)) for v in list(row)[:2]] + ["", ""]
        if cells[0].strip() or cells[1].strip():
            out.append(Example(input=cells[0], output=cells[1]))
    return tuple(out)


def examples_to_rows(examples: tuple[Example, ...]) -> list[list[str]]:
    return [[e.input, e.output] for e in examples] or [["", ""]]


def read_prompt(task, rows, query, ip, op, sep) -> FewShotPrompt:
    try:
        template = Template(input_prefix=unescape(ip), output_prefix=unescape(op), separator=unescape(sep))
    except ValueError:
        raise gr.Error("The output prefix and the separator cannot be empty (see Format).") from None
    return FewShotPrompt(task=task, examples=rows_to_examples(rows), query=query, template=template)


def read_settings(values) -> GenerationSettings:
    fields = dict(zip(SETTING_FIELDS, values, strict=True))
    fields["end_sequence"] = parse_stops(fields["end_sequence"] or "")
    fields["seed"] = None if fields["seed"] in (None, "") else int(fields["seed"])
    return make_settings(**fields)


def settings_values(s: GenerationSettings) -> list:
    return [getattr(s, f) if f != "end_sequence" else format_stops(s.end_sequence) for f in SETTING_FIELDS]


def status_line(c: Completion) -> str:
    if c.error:
        return f"⚠️ {c.error}"
    if not c.done:
        return f"⏳ generating… {c.completion_tokens} tokens"
    seed = f" · seed {c.seed}" if c.seed is not None and c.settings and c.settings.temperature > 0 else ""
    tokens = f"{c.completion_tokens} token{'s' if c.completion_tokens != 1 else ''}"
    return f"✓ {FINISH_LABELS[c.finish_reason]} · {tokens} · {c.seconds:.2f} s{seed}"


# --- handlers ----------------------------------------------------------------------------------


def preview(task, rows, query, ip, op, sep, raw_mode, raw_text):
    """Rendered prompt (unless the user edits it raw) and its token count."""
    try:
        prompt = read_prompt(task, rows, query, ip, op, sep)
    except gr.Error as exc:
        return gr.update(), f"⚠️ {exc.message}"
    text = raw_text if raw_mode else prompt.render()
    info = []
    try:
        b = backend()
        n = b.count_tokens(text)
        info.append(f"**{n:,} tokens** · {n / b.context_length:.0%} of the {b.context_length:,}-token context")
    except FewShotError as exc:
        info.append(f"⚠️ {exc}")
    if not raw_mode:
        k = len(prompt.examples)
        info.append(
            f"{k} example{'s' if k != 1 else ''}" if k
            else "zero-shot: no examples (small models usually need 3–4 to follow the format)"
        )
        if not query.strip():
            info.append("⚠️ the query is empty")
    return (gr.update() if raw_mode else text), " · ".join(info)


def load_preset(name):
    p = PRESETS[name]
    values = [
        p.task, examples_to_rows(p.examples), p.query,
        escape(p.template.input_prefix), escape(p.template.output_prefix), escape(p.template.separator),
        len(p.columns), False, gr.update(value=p.prompt.render(), interactive=False), gr.update(visible=False),
    ]
    for i in range(MAX_COLUMNS):
        values += settings_values(p.columns[i] if i < len(p.columns) else GenerationSettings())
    return values


def show_columns(n):
    return [gr.update(visible=i < n) for i in range(MAX_COLUMNS)]


def toggle_raw(raw_mode, raw_text, ip, op, sep):
    """Raw mode on: the preview becomes editable. Off: parse the raw text back into the fields."""
    if raw_mode:
        return gr.update(interactive=True), gr.update(visible=True), *[gr.update()] * 4
    try:
        p = parse(raw_text, Template(input_prefix=unescape(ip), output_prefix=unescape(op), separator=unescape(sep)))
    except (FewShotError, ValueError) as exc:
        gr.Warning(f"Kept raw mode: {exc} Fix the text or the Format, then try again.")
        return gr.update(), gr.update(), True, *[gr.update()] * 3
    return gr.update(interactive=False), gr.update(visible=False), False, p.task, examples_to_rows(p.examples), p.query


def parse_raw(raw_text, ip, op, sep):
    try:
        p = parse(raw_text, Template(input_prefix=unescape(ip), output_prefix=unescape(op), separator=unescape(sep)))
    except (FewShotError, ValueError) as exc:
        raise gr.Error(str(exc)) from None
    gr.Info(f"Parsed: task, {len(p.examples)} examples and the query.")
    return p.task, examples_to_rows(p.examples), p.query


def stream_cells(request: gr.Request, prompt, cells):
    """Yield the latest snapshot of every cell: often while they stream, and once at the end.

    Registers the session's Stop flag; raises FewShotError at once if the grid cannot start.
    """
    cancel = threading.Event()
    stream = grid.run(backend(), prompt, cells, cancel)
    _cancels[request.session_hash] = cancel

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
            _cancels.pop(request.session_hash, None)
        yield latest

    return updates()


def column_view(snapshots: list[Completion | None]) -> tuple[str, str]:
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
        status += " · " + " · ".join(f"{label} ×{n}" for label, n in counts[:4])
    if errors:
        status += f" · ⚠️ {errors[0]}"
    return "\n".join(texts), status


def distribution_plot(groups: list[tuple[str, list[Completion | None]]], visible: bool):
    table = evaluate.distribution_table(
        [(name, [c.text for c in cs if c is not None and c.done and not c.error]) for name, cs in groups]
    )
    return gr.update(value=table, visible=visible and not table.empty, x="group", y="count", color="answer",
                     sort=[name for name, _ in groups])


def run(request: gr.Request, task, rows, query, ip, op, sep, raw_mode, raw_text, n_columns, samples, *column_values):
    """Stream every visible column at once; each column shows its own error if it fails."""
    n, k = int(n_columns), int(samples)
    try:
        prompt = raw_text if raw_mode else read_prompt(task, rows, query, ip, op, sep)
        width = len(SETTING_FIELDS)
        settings = [read_settings(column_values[width * i : width * (i + 1)]) for i in range(n)]
        cells = [cell for s in settings for cell in grid.expand(s, samples=k)]
        updates = stream_cells(request, prompt, cells)
    except FewShotError as exc:
        raise gr.Error(str(exc)) from None
    names = [f"{i + 1}: {s.label()}" for i, s in enumerate(settings)]
    for latest in updates:
        views = [column_view(latest[i * k : (i + 1) * k]) for i in range(n)]
        views += [("", "")] * (MAX_COLUMNS - n)
        groups = [(names[i], latest[i * k : (i + 1) * k]) for i in range(n)]
        yield *[v[0] for v in views], *[v[1] for v in views], distribution_plot(groups, k > 1)


def run_sweep(request: gr.Request, task, rows, query, ip, op, sep, raw_mode, raw_text, key, values, samples, *base):
    """Every value of one setting (the rest from column 1), each sampled `samples` times."""
    try:
        prompt = raw_text if raw_mode else read_prompt(task, rows, query, ip, op, sep)
        axis = grid.parse_axis(key, values)
        cells = grid.expand(read_settings(base), {key: axis}, int(samples))
        updates = stream_cells(request, prompt, cells)
    except FewShotError as exc:
        raise gr.Error(str(exc)) from None
    labels = [f"{key}={format_value(key, getattr(c.settings, key, c.shots))}" for c in cells]
    order = list(dict.fromkeys(labels))
    for latest in updates:
        table = [
            [labels[i], cell.sample + 1, (c.error and f"⚠️ {c.error}") or c.text if c else "",
             FINISH_LABELS.get(c.finish_reason, "…") if c and c.done else "…",
             c.completion_tokens if c else 0, round(c.seconds, 2) if c else 0.0]
            for i, (cell, c) in enumerate(zip(cells, latest, strict=True))
        ]
        done = sum(c is not None and c.done for c in latest)
        groups = [(name, [c for c, label in zip(latest, labels, strict=True) if label == name]) for name in order]
        yield distribution_plot(groups, True), table, f"{'✓' if done == len(cells) else '⏳'} {done}/{len(cells)} done"


def run_evaluation(file, labels, limit, calibrate, task, rows, ip, op, sep, progress=gr.Progress()):  # noqa: B008
    """Accuracy of the current prompt on a labelled CSV, by scoring each label on the embedded model."""
    if file is None:
        raise gr.Error("Upload a CSV file with the columns text,label first.")
    try:
        prompt = read_prompt(task, rows, "", ip, op, sep)
        data = evaluate.read_labelled(file, int(limit))
        chosen = [s.strip() for s in (labels or "").split(",") if s.strip()] or None
        result = evaluate.evaluate(
            backend(), prompt, data, chosen, bool(calibrate),
            progress=lambda done, total: progress(done / total, desc=f"{done}/{total} scored"),
        )
    except FewShotError as exc:
        raise gr.Error(str(exc)) from None
    lines = [
        f"**Accuracy: {result.accuracy:.1%}** on {len(data)} rows "
        f"({len(prompt.examples)} examples in the prompt; always guessing the commonest label would score "
        f"{data['label'].value_counts(normalize=True).max():.1%}).",
    ]
    if result.calibrated is not None:
        bias = ", ".join(f"{k} {v:.0%}" for k, v in result.bias.items())
        lines.append(f"Calibrated: **{result.calibrated_accuracy:.1%}** (for the content-free query "
                     f"“{evaluate.CONTENT_FREE}” the model leans: {bias}).")
    confusion = result.confusion(calibrated=False).reset_index().rename(columns={"true": "true ↓ / predicted →"})
    return "\n\n".join(lines), confusion


def stop(request: gr.Request):
    if cancel := _cancels.get(request.session_hash):
        cancel.set()


# --- layout ------------------------------------------------------------------------------------


@dataclass
class ColumnControls:
    box: gr.Column
    settings: list  # temperature, max_new_tokens, end_sequence, top_p, top_k, repetition_penalty, seed
    text: gr.Textbox
    status: gr.Markdown


LABELS = {
    "temperature": "Temperature", "max_new_tokens": "Max new tokens", "end_sequence": "End sequence",
    "top_p": "Top-p", "top_k": "Top-k", "repetition_penalty": "Repetition penalty", "seed": "Seed",
}
SLIDER_STEPS = {"temperature": 0.05, "max_new_tokens": 1, "top_p": 0.01, "top_k": 1, "repetition_penalty": 0.01}
MAIN_SETTINGS = ("temperature", "max_new_tokens", "end_sequence")  # the rest sit under "More settings"
STOP_HELP = "Ends the completion; cut from the text. Several: separate with |. Line break: \\n."


def setting_widget(i: int, name: str, value):
    """The widget for one settings field; range and help text come from GenerationSettings."""
    kw = {"label": LABELS[name], "elem_id": f"c{i}-{name}"}
    if name in SLIDER_STEPS:
        low, high = bounds(name)
        return gr.Slider(low, high, value=value, step=SLIDER_STEPS[name], info=describe(name), **kw)
    if name == "end_sequence":
        return gr.Textbox(format_stops(value), info=STOP_HELP, **kw)
    return gr.Number(value, precision=0, minimum=0, info=describe(name), **kw)


def column_controls(i: int, s: GenerationSettings) -> ColumnControls:
    with gr.Column(visible=i < 3, min_width=220, elem_classes="compare-column", elem_id=f"column-{i}") as box:
        gr.Markdown(f"#### Column {i + 1}")
        widgets = {name: setting_widget(i, name, getattr(s, name)) for name in MAIN_SETTINGS}
        with gr.Accordion("More settings", open=False):
            for name in SETTING_FIELDS:
                if name not in widgets:
                    widgets[name] = setting_widget(i, name, getattr(s, name))
        text = gr.Textbox(
            label="Completion", lines=4, max_lines=12, interactive=False, buttons=["copy"],
            elem_classes="completion", elem_id=f"c{i}-text",
        )
        status = gr.Markdown(elem_classes="status", elem_id=f"c{i}-status")
    return ColumnControls(box, [widgets[name] for name in SETTING_FIELDS], text, status)


CSS = """
.completion textarea, .preview textarea { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.status { min-height: 1.5em; font-size: 0.9em; }
"""


def build_demo() -> gr.Blocks:
    first = PRESETS.get(presets.DEFAULT_PRESET) or next(iter(PRESETS.values()))
    with gr.Blocks(title="Few-shot Playground") as demo:
        gr.Markdown(
            "# Few-shot Playground\n"
            "Describe a task, show the model a few examples (input ⇒ output), give it a query, and compare "
            "completions side by side across settings."
        )
        gr.Markdown(model_banner(), elem_id="model-banner")
        if PRESET_ERRORS:
            gr.Markdown("⚠️ Some presets could not be loaded:\n" + "\n".join(f"- {e}" for e in PRESET_ERRORS))

        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                preset = gr.Dropdown(
                    [(p.name, key) for key, p in presets.ordered(PRESETS)], value=presets.DEFAULT_PRESET,
                    label="Preset", info="Loads a task, examples, query and column settings.",
                )
                task = gr.Textbox(first.task, label="Task description", lines=2, max_lines=8, elem_id="task")
                examples = gr.Dataframe(
                    examples_to_rows(first.examples), headers=["Input", "Output"], datatype=["str", "str"],
                    type="array", interactive=True, wrap=True, label="Examples (input ⇒ output)",
                    column_count=2, elem_id="examples",
                )
                query = gr.Textbox(first.query, label="Query", info="The input the model completes.", elem_id="query")
                with gr.Accordion("Format", open=False):
                    gr.Markdown("Each example is `input prefix + input + output prefix + output`; examples are joined "
                                "by the separator. Write a line break as `\\n`.")
                    with gr.Row():
                        ip = gr.Textbox(escape(first.template.input_prefix), label="Input prefix")
                        op = gr.Textbox(escape(first.template.output_prefix), label="Output prefix")
                        sep = gr.Textbox(escape(first.template.separator), label="Example separator")
            with gr.Column(scale=4):
                raw_mode = gr.Checkbox(
                    False, label="Edit raw prompt", info="Edit the whole text; untick to parse it back into the fields."
                )
                preview_box = gr.Textbox(
                    first.prompt.render(), label="Prompt preview", lines=16, max_lines=30, interactive=False,
                    elem_classes="preview", elem_id="preview",
                )
                parse_btn = gr.Button("Parse into fields", visible=False, size="sm")
                token_info = gr.Markdown(elem_id="token-info")

        gr.Markdown("## Compare")
        with gr.Row():
            n_columns = gr.Slider(1, MAX_COLUMNS, value=len(first.columns), step=1, label="Columns", scale=2)
            samples = gr.Slider(
                1, MAX_SAMPLES, value=1, step=1, label="Samples per column", scale=2, elem_id="samples",
                info="Sample each column several times to see how its answers are distributed.",
            )
            with gr.Column(scale=1, min_width=160):
                run_btn = gr.Button("Run", variant="primary", elem_id="run")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="stop")
        with gr.Row(equal_height=False):
            columns = [
                column_controls(i, first.columns[i] if i < len(first.columns) else GenerationSettings())
                for i in range(MAX_COLUMNS)
            ]
        dist_plot = gr.BarPlot(
            x="group", y="count", color="answer", label="Answers per column", visible=False, elem_id="dist-plot",
            y_title="samples", x_title="column", height=260,
        )

        with gr.Accordion("Sweep one setting", open=False, elem_id="sweep"):
            gr.Markdown("Try many values of one setting on the same prompt, every value sampled as often as you "
                        "like; the other settings come from column 1. All rows run together on the model.")
            with gr.Row(equal_height=True):
                sweep_key = gr.Dropdown(list(grid.SWEEP_KEYS), value="temperature", label="Setting", scale=1)
                sweep_values = gr.Textbox("0, 0.3, 0.6, 0.9, 1.2", label="Values (comma-separated)", scale=2,
                                          elem_id="sweep-values")
                sweep_samples = gr.Slider(1, MAX_SAMPLES, value=5, step=1, label="Samples per value", scale=2)
                sweep_btn = gr.Button("Run sweep", variant="primary", scale=1, elem_id="run-sweep")
            sweep_status = gr.Markdown(elem_id="sweep-status")
            sweep_plot = gr.BarPlot(x="group", y="count", color="answer", label="Answers per value",
                                    y_title="samples", x_title="value", height=260)
            sweep_table = gr.Dataframe(
                headers=["value", "sample", "completion", "finish", "tokens", "seconds"], interactive=False,
                wrap=True, elem_id="sweep-table", label="Completions",
            )

        with gr.Accordion("Evaluate on labelled data", open=False, elem_id="evaluate"):
            gr.Markdown("Upload a CSV with the columns `text,label`. Each row's text becomes the query; every "
                        "label is scored after the prompt on the embedded model and the likeliest one is the "
                        "prediction — no sampling. *Calibrate* divides out the bias the prompt shows for a "
                        "content-free query (“Calibrate Before Use”, Zhao et al. 2021).")
            with gr.Row(equal_height=True):
                eval_file = gr.File(
                    label="Labelled CSV", file_types=[".csv"], type="filepath", scale=2, elem_id="eval-file"
                )
                with gr.Column(scale=2):
                    eval_labels = gr.Textbox(label="Labels", placeholder="default: the labels found in the file",
                                             info="Comma-separated, as the outputs in your examples.")
                    eval_limit = gr.Slider(10, evaluate.MAX_ROWS, value=100, step=10, label="Rows")
                    eval_calibrate = gr.Checkbox(True, label="Calibrate")
                eval_btn = gr.Button("Evaluate", variant="primary", scale=1, elem_id="run-eval")
            eval_summary = gr.Markdown(elem_id="eval-summary")
            eval_confusion = gr.Dataframe(label="Confusion: true label (rows) × prediction (columns)",
                                          interactive=False, elem_id="eval-confusion")

        prompt_fields = [task, examples, query, ip, op, sep]
        column_settings = [c for col in columns for c in col.settings]
        outputs = [c.text for c in columns] + [c.status for c in columns]

        preview_inputs = [*prompt_fields, raw_mode, preview_box]
        # Raw mode is not a trigger: toggle_raw decides what the preview shows when it flips.
        for field in prompt_fields:
            field.change(preview, preview_inputs, [preview_box, token_info], api_name=False, show_progress="hidden")
        preview_box.input(preview, preview_inputs, [preview_box, token_info], api_name=False, show_progress="hidden")
        demo.load(preview, preview_inputs, [preview_box, token_info], api_name=False, show_progress="hidden")

        preset.change(
            load_preset, preset, [*prompt_fields, n_columns, raw_mode, preview_box, parse_btn, *column_settings],
            api_name="load_preset",
        )
        n_columns.change(show_columns, n_columns, [c.box for c in columns], api_name=False, show_progress="hidden")
        raw_mode.input(
            toggle_raw, [raw_mode, preview_box, ip, op, sep], [preview_box, parse_btn, raw_mode, task, examples, query],
            api_name=False,
        )
        parse_btn.click(parse_raw, [preview_box, ip, op, sep], [task, examples, query], api_name="parse")
        # The engine merges concurrent users' rows into the same decode steps, so runs need not queue here.
        model_work = {"concurrency_limit": 8, "concurrency_id": "model"}
        run_btn.click(
            run, [*prompt_fields, raw_mode, preview_box, n_columns, samples, *column_settings], [*outputs, dist_plot],
            api_name="run", show_progress="hidden", **model_work,
        )
        sweep_btn.click(
            run_sweep,
            [*prompt_fields, raw_mode, preview_box, sweep_key, sweep_values, sweep_samples, *columns[0].settings],
            [sweep_plot, sweep_table, sweep_status], api_name="sweep", show_progress="hidden", **model_work,
        )
        eval_btn.click(
            run_evaluation, [eval_file, eval_labels, eval_limit, eval_calibrate, task, examples, ip, op, sep],
            [eval_summary, eval_confusion], api_name="evaluate", **model_work,
        )
        stop_btn.click(stop, None, None, api_name="stop", concurrency_limit=None)
    return demo


THEME = gr.themes.Soft(primary_hue="indigo")
demo = build_demo()

if __name__ == "__main__":
    demo.queue().launch(
        theme=THEME, css=CSS, server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    )
