"""Text Generation Inference's own API and the Hugging Face endpoints that speak it.

`POST {url}/generate_stream` on a TGI server or a dedicated Inference Endpoint; for a model URL
such as https://router.huggingface.co/hf-inference/models/{id}, `POST` to the URL itself with
`"stream": true`. TGI validates strictly: greedy means no temperature/top-p and do_sample false,
top-p must be below 1, at most 4 stop strings; and it keeps the stop string in the text (cut here).

Label scoring (`score_many`) sends the text with its label to `/generate` with `details` and
`decoder_input_details` and sums the prompt tokens' log-probabilities (`details.prefill`) from the
end until they cover the label — counted from the end because the prefill may start with a BOS
token whose text ("<s>") is not in the prompt.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import BackendError, BackendRejected
from ..settings import GenerationSettings
from .base import Final, Piece, PromptLike, as_text
from .http import HTTPBackend, executor, json_events, sse_data
from .openai import post_json

FINISH = {"length": "length", "eos_token": "end_of_text", "stop_sequence": "end_sequence"}


def parameters(s: GenerationSettings, seed: int | None) -> dict[str, Any]:
    """TGI `parameters` for these settings, shaped to pass its validation (no seed: a random one)."""
    p: dict[str, Any] = {"max_new_tokens": s.max_new_tokens, "return_full_text": False, "details": True}
    if s.end_sequence:
        p["stop"] = list(s.end_sequence)
    if s.temperature == 0:
        p["do_sample"] = False
    else:
        p.update(do_sample=True, temperature=s.temperature)
        if seed is not None:
            p["seed"] = seed
        if s.top_p < 1:
            p["top_p"] = s.top_p
        if s.top_k:
            p["top_k"] = s.top_k
    if s.repetition_penalty != 1:
        p["repetition_penalty"] = s.repetition_penalty
    return p


def final(details: dict[str, Any] | None) -> Final:
    """The Final for TGI's `details` (which may be missing: the reason is then unknown)."""
    details = details or {}
    return Final(FINISH.get(details.get("finish_reason", ""), "stop"), 0, details.get("generated_tokens", 0))


SCORE_PARAMETERS = {"max_new_tokens": 1, "details": True, "decoder_input_details": True, "do_sample": False}


def suffix_logprob(prefill: Sequence[dict[str, Any]], length: int, backend: str = "tgi") -> float:
    """The sum of the last prefill tokens' log-probabilities that together cover `length` characters."""
    total, covered = 0.0, 0
    for token in reversed(prefill):
        if covered >= length:
            break
        if token.get("logprob") is None:
            break
        total += float(token["logprob"])
        covered += len(token.get("text") or "")
    if covered < length:
        raise BackendError(
            f"The {backend} server returned no log-probabilities for the label's tokens (details.prefill): "
            "it cannot score labels; use scoring by generation.", backend=backend,
        )
    return total


class TGIBackend(HTTPBackend):
    name = "tgi"
    endpoint_suffixes = ("/generate_stream", "/generate", "/v1/completions", "/v1/chat/completions", "/v1")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.model and "/models/" in self.url:
            self.model = self.url.split("/models/", 1)[1]
        self._info: dict[str, Any] | None = None
        self._info_lock = threading.Lock()

    def info(self) -> dict[str, Any]:
        """TGI's /info (model_id, max_input_tokens, ...), remembered once it answers; empty otherwise."""
        with self._info_lock:
            if self._info is None:
                try:
                    info = self.get_json("/info") if "/models/" not in self.url else {}
                except BackendError:
                    return {}  # asked again next time: the server may have been starting
                self._info = info if isinstance(info, dict) else {}
                self.model = self.model or str(self._info.get("model_id", ""))
            return self._info

    def recover(self, body: dict[str, Any], error: BackendRejected) -> dict[str, Any] | None:
        """Models the Inference API serves without TGI refuse TGI's extra fields by name
        ("The following `model_kwargs` are not used by the model: ['stop', ...]"): drop them once."""
        match = re.search(r"not used by the model: \[([^\]]*)\]", error.detail)
        if not match:
            return None
        names = set(re.findall(r"'([^']+)'", match.group(1)))
        parameters = {k: v for k, v in body["parameters"].items() if k not in names | {"details"}}
        return {k: v for k, v in {**body, "parameters": parameters}.items() if k not in names | {"stream"}}

    def prepare(self) -> None:
        self.info()

    def request(self, prompt: PromptLike, settings: GenerationSettings, seed: int) -> tuple[str, dict[str, Any]]:
        body = {"inputs": as_text(prompt), "parameters": parameters(settings, seed)}
        if "/models/" in self.url:  # a model URL (HF router, hf-inference): the URL itself takes the request
            return "", {**body, "stream": True}
        return "/generate_stream", body

    def whole(self, data: Any) -> Iterator[Piece]:
        """`{"generated_text", "details"}` from /generate, `[{"generated_text"}]` from the Inference API."""
        item = data[0] if isinstance(data, list) and data else data
        if not isinstance(item, dict) or "generated_text" not in item:
            raise BackendError(f"Unexpected answer from {self.name}: {str(data)[:120]}", backend=self.name)
        if item["generated_text"]:
            yield item["generated_text"]
        yield final(item.get("details"))

    def pieces(self, lines: Iterator[str]) -> Iterator[Piece]:
        seen = False
        for event in json_events(sse_data(lines), self.name):
            seen = True
            token = event.get("token") or {}
            if token.get("text") and not token.get("special"):
                yield token["text"]
            details = event.get("details")
            if details or event.get("generated_text") is not None:
                yield final(details)
                return
        raise self.ended_early(seen)

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Log-probability of each (text, continuation), one request per pair, sent concurrently."""
        self.prepare()
        return list(executor().map(lambda pair: self._score(*pair), pairs))

    def _score(self, text: str, continuation: str) -> float:
        body = {"inputs": text + continuation, "parameters": dict(SCORE_PARAMETERS)}
        with self._gate:
            data = post_json(self, "" if "/models/" in self.url else "/generate", body)
        item = data[0] if isinstance(data, list) and data else data
        prefill = ((item or {}).get("details") or {}).get("prefill") if isinstance(item, dict) else None
        return suffix_logprob(prefill or [], len(continuation), self.name)
