"""Backends turn prompts into streamed completions: the embedded model, or an HTTP endpoint.

`make_backend(spec, token)` gives a shared instance per (kind, url, model, token), so keep-alive
sessions and the embedded model are reused across runs and users.
"""

from __future__ import annotations

import os
import threading
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from .base import Backend, Completion, PromptLike, as_text

Kind = Literal["local", "openai", "tgi", "ollama", "chat"]

KINDS: dict[str, str] = {
    "local": "Embedded model (llama.cpp)",
    "openai": "OpenAI-compatible completions (vLLM, llama.cpp, TGI, OpenAI)",
    "tgi": "TGI / Hugging Face endpoint",
    "ollama": "Ollama",
    "chat": "Chat completions (chat-only models, Hugging Face router)",
}

# Tokens from the environment go only to their own provider's hosts.
_ENV_TOKENS = (
    (("huggingface.co", ".huggingface.co", ".hf.space", ".huggingface.cloud"), "HF_TOKEN"),
    (("api.openai.com",), "OPENAI_API_KEY"),
)


class BackendSpec(BaseModel):
    """Where a column's completions come from. Never holds a token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind = "local"
    url: str = Field("", description="Base URL of the server, e.g. http://localhost:8080 (not for local).")
    model: str = Field("", description="Model name; for local, an optional path to a GGUF file.")

    def label(self) -> str:
        if self.kind == "local":
            return "embedded" + (f" ({os.path.basename(self.model)})" if self.model else "")
        where = urlsplit(self.url).netloc or self.url
        return f"{self.kind} {self.model + ' @ ' if self.model else ''}{where}"


def token_variable(url: str) -> str:
    """The environment variable whose token may go to this URL: HF_TOKEN only to Hugging Face hosts,
    OPENAI_API_KEY only to api.openai.com, FEWSHOT_API_KEY to any other (self-hosted) server."""
    host = (urlsplit(url).hostname or "").lower()
    for hosts, variable in _ENV_TOKENS:
        if any(host == h or (h.startswith(".") and host.endswith(h)) for h in hosts):
            return variable
    return "FEWSHOT_API_KEY"


def token_for(url: str, explicit: str | None = None) -> str | None:
    """The token to send: the one given, else the one from `token_variable(url)` if it is set."""
    return explicit or os.environ.get(token_variable(url)) or None


_cache: dict[tuple, Backend] = {}
_cache_lock = threading.Lock()


def make_backend(spec: BackendSpec, token: str | None = None) -> Backend:
    """The shared backend for this spec (created on first use). Raises FewShotError for a bad URL."""
    token = token_for(spec.url, token) if spec.kind != "local" else None
    key = (spec, token)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _create(spec, token)
        return _cache[key]


def _create(spec: BackendSpec, token: str | None) -> Backend:
    if spec.kind == "local":
        from .local import LocalBackend

        return LocalBackend(spec.model or None)
    from .chat import ChatBackend
    from .ollama import OllamaBackend
    from .openai import OpenAIBackend
    from .tgi import TGIBackend

    classes = {"openai": OpenAIBackend, "tgi": TGIBackend, "ollama": OllamaBackend, "chat": ChatBackend}
    return classes[spec.kind](spec.url, spec.model, token)


__all__ = [
    "KINDS",
    "Backend",
    "BackendSpec",
    "Completion",
    "PromptLike",
    "as_text",
    "make_backend",
    "token_for",
    "token_variable",
]
