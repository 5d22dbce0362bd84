"""The Backends tab: endpoints A, B, C (protocol, URL, model, token) that Compare columns can run on,
a Check button for each, and the column menus labelled with what each endpoint points at."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from .. import presets, text
from ..backends import KINDS, BackendSpec, make_backend
from ..backends.base import generate
from ..errors import FewShotError
from ..prompt import FewShotPrompt
from ..settings import GenerationSettings
from .state import Page

REMOTE_KINDS = [(label, kind) for kind, label in KINDS.items() if kind != "local"] + [
    ("Another GGUF file, embedded (give its path as the model)", "local")
]


@dataclass(frozen=True)
class EndpointControls:
    name: str
    kind: gr.Dropdown
    url: gr.Textbox
    model: gr.Textbox
    token: gr.Textbox
    check: gr.Button
    status: gr.Markdown
    use_all: gr.Button


def endpoint_controls(name: str) -> EndpointControls:
    with gr.Column(min_width=260):
        gr.Markdown(f"#### Endpoint {name}")
        kind = gr.Dropdown(REMOTE_KINDS, value="openai", label="Protocol", elem_id=f"e{name}-kind")
        url = gr.Textbox(label="Base URL", placeholder="http://localhost:8080", elem_id=f"e{name}-url")
        model = gr.Textbox(label="Model", placeholder="empty: the server's model", elem_id=f"e{name}-model")
        token = gr.Textbox(
            label="Token", type="password", placeholder="or HF_TOKEN / OPENAI_API_KEY / FEWSHOT_API_KEY",
            info="Kept in this page only: never in presets, links or code; cleared when a preset or link loads.",
            elem_id=f"e{name}-token",
        )
        with gr.Row():
            check = gr.Button("Check", size="sm", elem_id=f"e{name}-check")
            use_all = gr.Button("Use in every column", size="sm", elem_id=f"e{name}-all")
        status = gr.Markdown(elem_id=f"e{name}-status")
    return EndpointControls(name, kind, url, model, token, check, status, use_all)


def build() -> tuple[EndpointControls, ...]:
    with gr.Tab("Backends", id="backends", elem_id="backends"):
        gr.Markdown(
            "Columns run on the embedded model unless you point them at an endpoint: TGI or a Hugging Face "
            "endpoint, any OpenAI-compatible `/v1/completions` server (vLLM, llama.cpp, TGI, OpenAI), Ollama, "
            "or a chat-only model through `/v1/chat/completions` (e.g. `https://router.huggingface.co/v1`). "
            "Paste the base URL as you have it, with or without `/v1`."
        )
        with gr.Row():
            return tuple(endpoint_controls(name) for name in presets.ENDPOINTS)


def check_endpoint(kind: str, url: str, model: str, token: str) -> str:
    """Send a one-token completion to see whether the endpoint answers."""
    try:
        spec = BackendSpec(kind=kind, url=(url or "").strip(), model=(model or "").strip())
        c = generate(make_backend(spec, token or None), FewShotPrompt(query="Hello"),
                     GenerationSettings(temperature=0, max_new_tokens=1, end_sequence=()))
    except (FewShotError, ValueError) as exc:
        return f"⚠️ {text.markdown(exc)}"
    if c.error:
        return f"⚠️ {text.markdown(c.error)}"
    model = text.markdown(c.model or "(server default)")
    return f"✓ answered in {c.seconds:.2f} s · {text.markdown(c.backend)} · model {model}"


def wire(page: Page) -> None:
    menus = [c.backend for c in page.compare.columns]

    def endpoint_choices(values: dict):
        """Column backend choices, labelled with what each endpoint points at."""
        choices = [("Embedded model", "")]
        for e in page.endpoints:
            url = (values[e.url] or "").strip()
            target = values[e.model] if values[e.kind] == "local" else url
            choices.append((f"{e.name}: {values[e.kind]} {target}" if target else f"{e.name} (not set)", e.name))
        return [gr.update(choices=choices) for _ in menus]

    quiet = {"api_visibility": "private", "show_progress": "hidden"}
    for e in page.endpoints:
        for widget in (e.kind, e.url, e.model):
            widget.change(endpoint_choices, page.inputs, menus, **quiet)
        e.check.click(check_endpoint, [e.kind, e.url, e.model, e.token], e.status, api_visibility="private")
        e.use_all.click(lambda name=e.name: [name] * len(menus), None, menus, **quiet)
