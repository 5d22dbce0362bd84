"""Few-shot Playground: the Gradio UI. Everything testable lives in `fewshot/`; this file only wires widgets."""

from __future__ import annotations

import os
import threading
import time
from contextlib import closing
from dataclasses import dataclass

import gradio as gr

from fewshot import grid, presets
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
    make_settings,
    parse_stops,
    unescape,
)

MAX_COLUMNS = presets.MAX_COLUMNS
SETTING_FIELDS = tuple(GenerationSettings.model_fields)  # one widget per field, in this order
PRESETS, PRESET_ERRORS = presets.load_folder()
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


def run(request: gr.Request, task, rows, query, ip, op, sep, raw_mode, raw_text, n_columns, *column_values):
    """Stream every visible column at once; each column shows its own error if it fails."""
    n = int(n_columns)
    texts, statuses = [""] * MAX_COLUMNS, [""] * MAX_COLUMNS
    try:
        prompt = raw_text if raw_mode else read_prompt(task, rows, query, ip, op, sep)
        k = len(SETTING_FIELDS)
        cells = [grid.Cell(read_settings(column_values[k * i : k * (i + 1)])) for i in range(n)]
        stream = grid.run(backend(), prompt, cells, cancel := threading.Event())
    except FewShotError as exc:
        raise gr.Error(str(exc)) from None
    _cancels[request.session_hash] = cancel
    statuses[:n] = ["⏳ queued"] * n
    yield *texts, *statuses
    last = 0.0
    try:
        with closing(stream):
            for i, c in stream:
                texts[i], statuses[i] = c.text, status_line(c)
                if c.done or time.monotonic() - last > STREAM_INTERVAL:
                    last = time.monotonic()
                    yield *texts, *statuses
    finally:
        _cancels.pop(request.session_hash, None)
    yield *texts, *statuses


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
            n_columns = gr.Slider(1, MAX_COLUMNS, value=len(first.columns), step=1, label="Columns", scale=3)
            run_btn = gr.Button("Run", variant="primary", scale=1, elem_id="run")
            stop_btn = gr.Button("Stop", variant="stop", scale=1, elem_id="stop")
        with gr.Row(equal_height=False):
            columns = [
                column_controls(i, first.columns[i] if i < len(first.columns) else GenerationSettings())
                for i in range(MAX_COLUMNS)
            ]

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
        run_btn.click(
            run, [*prompt_fields, raw_mode, preview_box, n_columns, *column_settings], outputs,
            api_name="run", show_progress="hidden",
        )
        stop_btn.click(stop, None, None, api_name="stop", concurrency_limit=None)
    return demo


THEME = gr.themes.Soft(primary_hue="indigo")
demo = build_demo()

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=1).launch(
        theme=THEME, css=CSS, server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    )
