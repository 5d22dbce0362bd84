"""The prompt panel: preset menu, task, examples, query and format (left of Compare), and the
"Prompt text" tab: the rendered prompt, raw editing, and the turns a chat endpoint receives."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from .. import presets
from ..errors import FewShotError
from ..prompt import FewShotPrompt, parse
from ..settings import escape
from ..text import markdown as md_text
from . import errors as toasts
from .errors import shows_errors
from .state import Page, examples_to_rows, template_of

QUIET = {"api_visibility": "private", "show_progress": "hidden"}


@dataclass(frozen=True)
class PromptFields:
    preset: gr.Dropdown
    task: gr.Textbox
    examples: gr.Dataframe
    query: gr.Textbox
    token_info: gr.Markdown
    ip: gr.Textbox
    op: gr.Textbox
    sep: gr.Textbox


@dataclass(frozen=True)
class PromptText:
    raw_mode: gr.Checkbox
    preview: gr.Textbox
    parse_btn: gr.Button
    messages: gr.JSON


def build_fields(first: presets.Preset, choices: list[tuple[str, str]]) -> PromptFields:
    preset = gr.Dropdown(choices, value=presets.DEFAULT_PRESET, label="Preset", elem_id="preset",
                         info="Loads a task, examples, query, columns and endpoints.")
    task = gr.Textbox(first.task, label="Task description", lines=2, max_lines=8, elem_id="task")
    examples = gr.Dataframe(
        examples_to_rows(first.examples), headers=["Input", "Output"], datatype=["str", "str"], type="array",
        interactive=True, wrap=True, label="Examples (input ⇒ output)", column_count=2, elem_id="examples",
        max_height=260,
    )
    query = gr.Textbox(first.query, label="Query", info="The input the model completes.", elem_id="query")
    token_info = gr.Markdown(elem_id="token-info", elem_classes="token-info")
    with gr.Accordion("Format", open=False, elem_id="format"):
        gr.Markdown("Each example is `input prefix + input + output prefix + output`; examples are joined by the "
                    "separator. Write a line break as `\\n`.")
        with gr.Row():
            ip = gr.Textbox(escape(first.template.input_prefix), label="Input prefix")
            op = gr.Textbox(escape(first.template.output_prefix), label="Output prefix")
            sep = gr.Textbox(escape(first.template.separator), label="Example separator")
    return PromptFields(preset, task, examples, query, token_info, ip, op, sep)


def build_text(first: presets.Preset) -> PromptText:
    with gr.Tab("Prompt text", id="prompt-text", elem_id="prompt-text"), gr.Row(equal_height=False):
        with gr.Column(scale=3):
            raw_mode = gr.Checkbox(False, label="Edit raw prompt",
                                   info="Edit the whole text; untick to parse it back into the fields.")
            preview = gr.Textbox(first.prompt.render(), label="Prompt preview", lines=10, max_lines=30,
                                 interactive=False, elem_classes="preview", elem_id="preview")
            parse_btn = gr.Button("Parse into fields", visible=False, size="sm")
        with gr.Column(scale=2):
            messages = gr.JSON(label="Chat messages (what chat endpoints receive)", visible=False,
                               elem_id="chat-messages")
    return PromptText(raw_mode, preview, parse_btn, messages)


def describe(page: Page, values: dict, prompt: FewShotPrompt, text: str) -> str:
    """The token count of what runs, and how many examples the prompt has."""
    info = []
    try:
        b = page.services.embedded()
        n = b.count_tokens(text)
        info.append(f"**{n:,} tokens** · {n / b.context_length:.0%} of the {b.context_length:,}-token context")
    except FewShotError as exc:
        info.append(f"⚠️ {md_text(exc)}")
    if not values[page.text.raw_mode]:
        k = len(prompt.examples)
        info.append(f"{k} example{'s' if k != 1 else ''}" if k
                    else "zero-shot: no examples (small models usually need 3–4 to follow the format)")
        if not prompt.query.strip():
            info.append("⚠️ the query is empty")
    return " · ".join(info)


def wire(page: Page) -> None:
    f, t = page.fields, page.text

    def preview(values: dict):
        """Rendered prompt (unless edited raw), its token count, and the chat turns if a column uses chat."""
        try:
            prompt = page.read_prompt(values)
        except FewShotError as exc:
            return gr.update(), f"⚠️ {md_text(exc)}", gr.update()
        raw = values[t.raw_mode]
        text = values[t.preview] if raw else prompt.render()
        names = {values[c.backend] for c in page.visible_columns(values)} - {""}
        uses_chat = any(values[page.endpoint(n).kind] == "chat" for n in names)
        chat = gr.update(value=prompt.messages() if uses_chat else None, visible=uses_chat)
        return (gr.update() if raw else text), describe(page, values, prompt, text), chat

    def toggle_raw(raw_mode: bool, raw_text: str, ip: str, op: str, sep: str):
        """On: the preview becomes editable and the fields read-only. Off: parse the raw text back."""
        locked = [gr.update(interactive=not raw_mode) for _ in range(3)]
        if raw_mode:
            return gr.update(interactive=True), gr.update(visible=True), gr.update(), *locked
        try:
            p = parse(raw_text, template_of(ip, op, sep))
        except FewShotError as exc:
            toasts.warning(f"Kept raw mode: {exc} Fix the text or the Format, then try again.")
            return gr.update(), gr.update(), True, *[gr.update()] * 3
        fields = (gr.update(value=v, interactive=True) for v in (p.task, examples_to_rows(p.examples), p.query))
        return gr.update(interactive=False), gr.update(visible=False), False, *fields

    @shows_errors
    def parse_raw(raw_text: str, ip: str, op: str, sep: str):
        """Read the raw text into the fields without leaving raw mode (they stay read-only)."""
        p = parse(raw_text, template_of(ip, op, sep))
        toasts.info(f"Parsed: task, {len(p.examples)} examples and the query.")
        return p.task, examples_to_rows(p.examples), p.query

    # The preview follows every change to the prompt, typed or loaded, and to which backends run.
    # Raw mode is not a trigger: toggle_raw decides what the preview shows when it flips.
    outputs = [t.preview, f.token_info, t.messages]
    triggers = [*page.prompt_inputs, *(c.backend for c in page.compare.columns), *(e.kind for e in page.endpoints),
                page.compare.n_columns]
    for widget in triggers:
        widget.change(preview, page.inputs, outputs, **QUIET)
    t.preview.input(preview, page.inputs, outputs, **QUIET)
    t.raw_mode.input(toggle_raw, [t.raw_mode, t.preview, f.ip, f.op, f.sep],
                     [t.preview, t.parse_btn, t.raw_mode, f.task, f.examples, f.query], api_visibility="private")
    t.parse_btn.click(parse_raw, [t.preview, f.ip, f.op, f.sep], [f.task, f.examples, f.query],
                      api_visibility="private")
    page.demo.load(preview, page.inputs, outputs, **QUIET)
