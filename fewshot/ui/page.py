"""The page: header, the prompt beside Compare, and the tabs below; `build_demo()` composes the panels.

Adding a panel is one line in PANELS (see fewshot/ui/__init__.py for what a panel receives)."""

from __future__ import annotations

import gradio as gr

from .. import presets
from ..errors import FewShotError
from ..text import markdown as md_text
from . import api, backends, choose_examples, compare, evaluate, feedback, probe, prompt, share, sweep, verdicts
from .state import Page, Services

# The tabs after "Prompt text" and "Backends", in order: each a `build(page)` that makes its own gr.Tab.
PANELS = (sweep.build, evaluate.build, choose_examples.build, probe.build, share.build, feedback.build)

THEME = gr.themes.Soft(primary_hue="indigo")
CSS = """
.completion textarea, .preview textarea { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.status { min-height: 1.4em; font-size: 0.85em; }
.status p { margin: 0; }
/* Column settings stay compact: each help text is one line, in full on hover. */
.compare-column label, #compare-bar label { min-width: 0; }
.compare-column .info-text, #compare-bar .info-text { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.compare-column .info-text:hover, #compare-bar .info-text:hover { white-space: normal; }
.column-head label span { font-weight: 600; }
#header p { margin: 0.1em 0; }
#header h1 { margin: 0 0 0.1em; font-size: 1.4em; }
.token-info p { font-size: 0.9em; margin: 0; }
"""


def launch_options() -> dict:
    """What `demo.launch()` takes besides the server's address (Gradio 6 reads theme and CSS there)."""
    return {"theme": THEME, "css": CSS}


def model_banner(services: Services) -> str:
    try:
        b = services.embedded()
        # model_label says which weights run: the shipped file, or the copy converted for speed.
        return (f"**Embedded model:** {md_text(b.model_label)} (llama.cpp on this machine's CPU, "
                f"{b.context_length:,}-token "
                "context); other servers under *Backends*. Every completion below is written by a model: check it "
                "before you use it.")
    except FewShotError as exc:
        return f"⚠️ {md_text(exc)}"


def build_demo(store: presets.Store | None = None) -> gr.Blocks:
    """A new, independent demo (its own page state and services); `store` defaults to the preset folders."""
    services = Services(store)
    found, builtin, preset_errors = services.store.load()
    first = found[presets.DEFAULT_PRESET]
    with gr.Blocks(title="Few-shot Playground") as demo:
        gr.Markdown("# Few-shot Playground\nA task, a few examples (input ⇒ output) and a query: compare completions "
                    "side by side across settings and models. " + model_banner(services), elem_id="header")
        if preset_errors:
            gr.Markdown("⚠️ Some presets could not be loaded (the others work):\n"
                        + "\n".join(f"- {md_text(e.replace(str(services.store.folder), 'the saved presets'))}"
                                    for e in preset_errors), elem_id="preset-errors")
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=320):
                fields = prompt.build_fields(first, share.choice_list(found, builtin))
            with gr.Column(scale=7, min_width=320):
                compare_panel = compare.build(first)
        # The preset's example strategy (see Choose examples); made outside the Tabs, where a child that is
        # not a Tab shifts the tabs' positions.
        strategy = gr.State(first.strategy.model_dump() if first.strategy else None)
        with gr.Tabs(elem_id="panels"):
            text = prompt.build_text(first)
            endpoints = backends.build()
            page = Page(fields, text, compare_panel, endpoints, services, demo, strategy)
            for wire in (prompt.wire, backends.wire, compare.wire, verdicts.wire):
                wire(page)
            for add_panel in PANELS:
                add_panel(page)
        api.build(page)
    return demo
