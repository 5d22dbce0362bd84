"""Ollama's native `POST /api/generate` with `raw: true` (NDJSON stream).

Not its `/v1/completions`: that one applies the model's chat template and silently reshapes a
few-shot prompt on instruct models. Every sampling option is sent, because Ollama's defaults
(temperature 0.8, top-k 40, top-p 0.9, repeat penalty 1.1) would otherwise apply.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..errors import BackendRejected
from ..settings import GenerationSettings
from .base import Final, Piece, PromptLike, as_text
from .http import HTTPBackend, json_events

FINISH = {"length": "length", "stop": "stop"}


def context_size(text: str, s: GenerationSettings) -> int:
    """num_ctx for this prompt. Ollama silently drops the start of a prompt longer than its context
    (the task and first examples!), so size it from the prompt: at least 4096, a power of two (a new
    size reloads the model, so it should not change with every prompt)."""
    estimate = len(text.encode("utf-8")) // 3 + s.max_new_tokens  # generous: about 4 bytes a token
    return max(4096, 1 << (estimate - 1).bit_length())


def options(s: GenerationSettings, seed: int | None, num_ctx: int | None = None) -> dict[str, Any]:
    """Every sampling option, so none of Ollama's own defaults applies (no seed: a random one)."""
    o: dict[str, Any] = {
        "num_predict": s.max_new_tokens,
        "temperature": s.temperature,
        "top_k": s.top_k,
        "top_p": s.top_p,
        "min_p": 0.0,
        "repeat_penalty": s.repetition_penalty,
    }
    if seed is not None:
        o["seed"] = seed
    if num_ctx:
        o["num_ctx"] = num_ctx
    if s.end_sequence:
        o["stop"] = list(s.end_sequence)
    return o


class OllamaBackend(HTTPBackend):
    name = "ollama"
    endpoint_suffixes = ("/api/generate", "/api", "/v1")

    def request(self, prompt: PromptLike, settings: GenerationSettings, seed: int) -> tuple[str, dict[str, Any]]:
        if not self.model:
            tags = self.get_json("/api/tags").get("models") or []
            if not tags:
                raise BackendRejected("This Ollama server has no models: run `ollama pull NAME` first.",
                                      backend=self.name, status=404)
            self.model = tags[0].get("name", "")
        text = as_text(prompt)
        body = {"model": self.model, "prompt": text, "raw": True, "stream": True,
                "options": options(settings, seed, context_size(text, settings))}
        return "/api/generate", body

    def whole(self, data: Any) -> Iterator[Piece]:
        return self.pieces(iter([json.dumps(data)]))

    def pieces(self, lines: Iterator[str]) -> Iterator[Piece]:
        seen = False
        for event in json_events((line for line in lines if line.strip()), self.name):
            seen = True
            if text := event.get("response"):
                yield text
            if event.get("done"):
                reason = FINISH.get(event.get("done_reason", ""), "stop")
                yield Final(reason, event.get("prompt_eval_count", 0), event.get("eval_count", 0))
                return
        raise self.ended_early(seen)
