"""OpenAI-compatible `/v1/completions`: vLLM, llama.cpp's llama-server, llama_cpp.server, TGI, OpenAI,
Hugging Face router providers. Raw prompt in, SSE chunks out, `data: [DONE]` at the end.

Label scoring (`score_many`) sends the text with its label, `echo: true`, `logprobs: 1`,
`max_tokens: 1` (as lm-eval-harness does; vLLM documents it) and sums the log-probabilities of the
echoed tokens whose `text_offset` falls in the label's span. llama-cpp-python's own server is
refused (see OFF_BY_ONE_REASON): its echoed values are read one position late.

Sends the portable subset (model, prompt, max_tokens, temperature, top_p, stop, seed). Servers
whose type is known from `/v1/models` also get top-k and repetition penalty — and llama.cpp
servers always get them, because their own defaults (top-k 40, min-p 0.05, repeat penalty 1.1)
would otherwise change the result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from ..errors import BackendError, BackendRejected
from ..settings import GenerationSettings
from .base import NO_PROMPT_LOGPROBS, Final, Piece, PromptLike, as_text, cannot_score
from .http import HTTPBackend, executor, json_events, parse_json, sse_data

LLAMA_CPP = ("me", "llamacpp", "llama.cpp", "llama-cpp")  # owned_by of llama_cpp.server and llama-server
NEEDS_MODEL = ("router.huggingface.co",)  # servers whose first listed model is an arbitrary choice
PROBE_RETRY = 10.0  # seconds before asking a server that did not answer /v1/models again
ONE_AT_A_TIME = ("me",)  # llama_cpp.server runs one request and interrupts it when the next one arrives
# llama-cpp-python 0.3.x (`_create_completion`, echo + logprobs) drops a leading BOS token from the
# echoed tokens but not from the logit rows it reads them from; for a model that adds no BOS
# (SmolLM2 among them) token i then gets its probability under the distribution *after* it.
# Measured in tests/test_backend_openai.py; such servers are refused rather than trusted.
OFF_BY_ONE = ("me",)
OFF_BY_ONE_REASON = (
    "llama_cpp.server reports each echoed prompt token's log-probability from the distribution after that "
    "token instead of before it, so its label scores are wrong"
)


def score_body(model: str, text: str) -> dict[str, Any]:
    """The request that echoes `text` with the log-probability of every token."""
    return {"model": model, "prompt": text, "max_tokens": 1, "temperature": 0, "echo": True, "logprobs": 1,
            "stream": False}


def span_logprob(logprobs: dict[str, Any], start: int, end: int, backend: str = "openai") -> float:
    """The sum of the echoed tokens' log-probabilities whose text_offset is in [start, end)."""
    offsets, values = logprobs.get("text_offset") or [], logprobs.get("token_logprobs") or []
    picked = [v for o, v in zip(offsets, values, strict=False) if start <= o < end]
    if not picked or any(v is None for v in picked):
        raise BackendError(
            f"The {backend} server returned no log-probabilities for the label's tokens (echo + logprobs): "
            "it cannot score labels; use scoring by generation.", backend=backend,
        )
    return float(sum(picked))


def post_json(backend: HTTPBackend, path: str, body: dict[str, Any]) -> Any:
    """One non-streamed request and its JSON answer (errors mapped as for completions)."""
    response = backend._post(path, body)
    with response:
        return parse_json(response.text, backend.name)


def sampling_extras(flavour: str, s: GenerationSettings) -> dict[str, Any]:
    """Non-portable sampling fields this server type takes."""
    if flavour in LLAMA_CPP:
        return {"top_k": s.top_k, "repeat_penalty": s.repetition_penalty, "min_p": 0.0}
    if flavour == "vllm":
        extras: dict[str, Any] = {}
        if s.top_k:
            extras["top_k"] = s.top_k
        if s.repetition_penalty != 1:
            extras["repetition_penalty"] = s.repetition_penalty
        return extras
    return {}


def sampling_body(s: GenerationSettings, seed: int | None, flavour: str) -> dict[str, Any]:
    """The sampling fields of a completions request: the portable ones, then this server type's extras."""
    body: dict[str, Any] = {"max_tokens": s.max_new_tokens, "temperature": s.temperature}
    if s.top_p < 1:  # 1 is everyone's default, and TGI's OpenAI routes refuse it
        body["top_p"] = s.top_p
    if s.end_sequence:
        body["stop"] = list(s.end_sequence)
    if seed is not None:
        body["seed"] = seed
    return body | sampling_extras(flavour, s)


# TGI's OpenAI routes pass its own reasons through.
TGI_REASONS = {"eos_token": "end_of_text", "stop_sequence": "end_sequence"}


def finish_reason(reason: str | None, stop_reason: Any = "missing") -> str:
    """OpenAI's "stop" covers both an end sequence and end of text; vLLM's stop_reason tells them apart."""
    if reason == "length":
        return "length"
    if reason in TGI_REASONS:
        return TGI_REASONS[reason]
    if stop_reason == "missing":
        return "stop"
    return "end_sequence" if isinstance(stop_reason, str) else "end_of_text"


class OpenAIBackend(HTTPBackend):
    name = "openai"
    endpoint_suffixes = ("/v1/completions", "/v1/chat/completions", "/v1", "/completions")
    path = "/v1/completions"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._flavour: str | None = None
        self._probe_lock = threading.Lock()
        self._probe_failed = -PROBE_RETRY

    def _probe(self) -> None:
        """Read /v1/models: the server type (owned_by) and, if none was given, the model name.
        Remembered once it answers; a failed probe is tried again after a while (the server may
        have been starting)."""
        with self._probe_lock:
            if self._flavour is not None or time.monotonic() - self._probe_failed < PROBE_RETRY:
                return
            try:
                models = self.get_json("/v1/models").get("data") or [{}]
            except (BackendError, AttributeError):
                self._probe_failed = time.monotonic()
                return
            first = models[0] if isinstance(models[0], dict) else {}
            self._flavour = str(first.get("owned_by", "")).lower()
            if not self.model and urlsplit(self.url).hostname not in NEEDS_MODEL:
                self.model = str(first.get("id", ""))
            if self._flavour in ONE_AT_A_TIME:
                self._gate = threading.BoundedSemaphore(1)

    def prepare(self) -> None:
        if not self.model and urlsplit(self.url).hostname in NEEDS_MODEL:
            raise BackendRejected(
                "The Hugging Face router serves many models: give a model name, e.g. "
                "meta-llama/Llama-3.1-8B-Instruct:fastest.", backend=self.name,
            )
        self._probe()

    @property
    def flavour(self) -> str:
        self._probe()
        return self._flavour or ""

    def ignored(self, settings: GenerationSettings) -> list[str]:
        sent = sampling_extras(self.flavour, settings)
        out = []
        if settings.top_k and "top_k" not in sent:
            out.append("top-k")
        if settings.repetition_penalty != 1 and not {"repeat_penalty", "repetition_penalty"} & set(sent):
            out.append("repetition penalty")
        return out

    def common_body(self, settings: GenerationSettings, seed: int) -> dict[str, Any]:
        flavour = self.flavour  # asked first: the server's answer may name the model
        return {"model": self.model, **sampling_body(settings, seed, flavour), "stream": True}

    def request(self, prompt: PromptLike, settings: GenerationSettings, seed: int) -> tuple[str, dict[str, Any]]:
        return self.path, {**self.common_body(settings, seed), "prompt": as_text(prompt)}

    def text_of(self, choice: dict[str, Any]) -> str:
        return choice.get("text") or ""

    def whole(self, data: Any) -> Iterator[Piece]:
        choice = ((data or {}).get("choices") or [{}])[0]
        if text := self.text_of(choice) or (choice.get("message") or {}).get("content"):
            yield text
        usage = data.get("usage") or {}
        reason = finish_reason(choice.get("finish_reason") or "stop", choice.get("stop_reason", "missing"))
        yield Final(reason, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))

    def pieces(self, lines: Iterator[str]) -> Iterator[Piece]:
        reason, stop_reason, usage, seen = None, "missing", {}, False
        for event in json_events(sse_data(lines), self.name):
            seen = True
            choice = (event.get("choices") or [{}])[0]
            if text := self.text_of(choice):
                yield text
            if choice.get("finish_reason"):
                reason = choice["finish_reason"]
                stop_reason = choice.get("stop_reason", "missing")
            usage = event.get("usage") or usage
        if reason is None:
            raise self.ended_early(seen)
        prompt_tokens, completion_tokens = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
        yield Final(finish_reason(reason, stop_reason), prompt_tokens, completion_tokens)

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Log-probability of each (text, continuation), one echo request per pair, sent concurrently."""
        if self.path != "/v1/completions":
            raise cannot_score(self.name, NO_PROMPT_LOGPROBS["chat"])
        self.prepare()
        if self.flavour in OFF_BY_ONE:
            raise cannot_score(f"{self.name} (llama_cpp.server)", OFF_BY_ONE_REASON)
        return list(executor().map(lambda pair: self._score(*pair), pairs))

    def _score(self, text: str, continuation: str) -> float:
        with self._gate:
            data = post_json(self, self.path, score_body(self.model, text + continuation))
        choice = ((data or {}).get("choices") or [{}])[0]
        return span_logprob(choice.get("logprobs") or {}, len(text), len(text) + len(continuation), self.name)
