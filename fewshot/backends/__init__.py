"""Backends turn prompts into streamed completions: the embedded model, or an HTTP endpoint.

`make_backend(spec, token)` gives a shared instance per (kind, url, model, token), so keep-alive
sessions and the embedded model are reused across runs and users.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from ..errors import BackendRejected
from .base import Backend, Completion, PromptLike, as_text

Kind = Literal["local", "openai", "tgi", "ollama", "chat"]

KINDS: dict[str, str] = {
    "local": "Embedded model (llama.cpp)",
    "openai": "OpenAI-compatible completions (vLLM, llama.cpp, TGI, OpenAI)",
    "tgi": "TGI / Hugging Face endpoint",
    "ollama": "Ollama",
    "chat": "Chat completions (chat-only models, Hugging Face router)",
}

# Tokens from the environment go only to hosts their owner chose: HF_TOKEN to Hugging Face's own
# API (huggingface.co, router.huggingface.co), OPENAI_API_KEY to api.openai.com, FEWSHOT_API_KEY to
# the hosts listed in FEWSHOT_API_HOSTS. Not to Spaces (*.hf.space) or Inference Endpoints: anyone
# can run code there, and a shared link or preset could point a column at theirs.
_ENV_TOKENS = (
    (("huggingface.co", ".huggingface.co"), "HF_TOKEN"),
    (("api.openai.com",), "OPENAI_API_KEY"),
)
OTHER_HOSTS_VARIABLE = "FEWSHOT_API_HOSTS"


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


def _matches(host: str, patterns) -> bool:
    """`api.openai.com` matches itself; `.example.com` matches its subdomains."""
    return any(host == p or (p.startswith(".") and host.endswith(p)) for p in patterns)


def token_variable(url: str) -> str:
    """The environment variable that holds this URL's token: HF_TOKEN, OPENAI_API_KEY or FEWSHOT_API_KEY."""
    host = (urlsplit(url).hostname or "").lower()
    return next((variable for hosts, variable in _ENV_TOKENS if _matches(host, hosts)), "FEWSHOT_API_KEY")


def token_for(url: str, explicit: str | None = None) -> str | None:
    """The token to send: the one pasted for this backend, else the environment's — HF_TOKEN and
    OPENAI_API_KEY to their provider's hosts only, FEWSHOT_API_KEY only to hosts in FEWSHOT_API_HOSTS."""
    if explicit:
        return explicit
    variable = token_variable(url)
    if variable == "FEWSHOT_API_KEY":
        allowed = [h.strip().lower() for h in os.environ.get(OTHER_HOSTS_VARIABLE, "").split(",") if h.strip()]
        if not _matches((urlsplit(url).hostname or "").lower(), allowed):
            return None
    return os.environ.get(variable) or None


CACHE_SIZE = 64  # backends kept (the least recently used one's connections are closed)
_cache: OrderedDict[tuple, Backend] = OrderedDict()
_cache_lock = threading.Lock()


def make_backend(spec: BackendSpec, token: str | None = None) -> Backend:
    """The shared backend for this spec (created on first use). Raises FewShotError for a bad URL."""
    if spec.kind == "local" and spec.model:
        spec = spec.model_copy(update={"model": _model_file(spec.model)})
    token = token_for(spec.url, token) if spec.kind != "local" else None
    key = (spec, token)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _create(spec, token)
            if len(_cache) > CACHE_SIZE:
                _, oldest = _cache.popitem(last=False)
                if hasattr(oldest, "session"):  # an HTTP backend: its rows in flight finish on their own
                    oldest.close()
        _cache.move_to_end(key)
        return _cache[key]


def _model_file(path: str) -> str:
    """Another GGUF for the embedded backend: refused on a Space unless allowed (it would let any
    visitor make the server load files), and resolved so one file is loaded once."""
    if os.environ.get("SPACE_ID") and os.environ.get("FEWSHOT_ALLOW_MODEL_FILES") != "1":
        raise BackendRejected("Other model files are turned off on this Space: use the embedded model or an "
                              "endpoint.", backend="embedded")
    return str(Path(path).expanduser().resolve())


def _create(spec: BackendSpec, token: str | None) -> Backend:
    if spec.kind == "local":
        from .local import LocalBackend

        return LocalBackend(spec.model or None)
    return remote_class(spec.kind)(spec.url, spec.model, token)


def remote_class(kind: str) -> type:
    """The HTTP backend class for a protocol kind (imported on use: importing fewshot stays cheap)."""
    from .chat import ChatBackend
    from .ollama import OllamaBackend
    from .openai import OpenAIBackend
    from .tgi import TGIBackend

    return {"openai": OpenAIBackend, "tgi": TGIBackend, "ollama": OllamaBackend, "chat": ChatBackend}[kind]


__all__ = [
    "KINDS",
    "Backend",
    "BackendSpec",
    "Completion",
    "PromptLike",
    "as_text",
    "make_backend",
    "remote_class",
    "token_for",
    "token_variable",
]
