"""What every backend shares: the `Backend` protocol, `Completion`, and stop-string handling.

A backend writes one generator of raw pieces (text deltas, then a `Final`); `completions()` turns
it into growing `Completion` snapshots, cutting the text at the first end sequence. Everything
above the backends consumes snapshots: the last one of a stream has `finish_reason` set.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from ..errors import ConfigError, FewShotError
from ..prompt import FewShotPrompt
from ..settings import GenerationSettings

PromptLike = FewShotPrompt | str  # a structured prompt, or raw text typed by the user

# Why a completion ended, as shown to the user.
FINISH_LABELS = {
    "end_sequence": "end sequence",
    "length": "max tokens",
    "end_of_text": "end of text",
    "stop": "end sequence or end of text",  # servers that do not say which
    "cancelled": "stopped",
    "error": "error",
}


@dataclass(frozen=True)
class Completion:
    """A completion, or a snapshot of one while it streams (`finish_reason` is None until done)."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    backend: str = ""
    model: str = ""
    settings: GenerationSettings | None = None
    seed: int | None = None
    error: str | None = None
    note: str | None = None  # e.g. settings this backend could not apply

    @property
    def done(self) -> bool:
        return self.finish_reason is not None


@dataclass(frozen=True)
class Final:
    """The last piece of a raw stream: why it ended and what it cost."""

    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


Piece = str | Final


class Backend(Protocol):
    name: str
    model: str

    def stream(self, prompt: PromptLike, settings: GenerationSettings) -> Iterator[Completion]: ...

    def generate_many(
        self, rows: Sequence[tuple[PromptLike, GenerationSettings]], cancel: threading.Event | None = None
    ) -> Iterator[tuple[int, Completion]]: ...


class Scorer(Protocol):
    """A backend that scores fixed continuations: the log-probability of each `continuation` right
    after its `text` (the embedded model; OpenAI-compatible servers with prompt log-probabilities; TGI)."""

    name: str

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[float]: ...


class CannotScore(ConfigError):
    """This backend cannot score labels by log-probability; scoring by generation still works."""


# Backends whose protocol has no log-probabilities for a given text, and why (one sentence each).
NO_PROMPT_LOGPROBS = {
    "chat": "chat endpoints return no log-probabilities for a given text",
    "ollama": "Ollama returns log-probabilities of generated tokens only, not of a given label",
}


def cannot_score(backend: str, reason: str) -> CannotScore:
    """The one-sentence refusal, offering the mode that works."""
    return CannotScore(f"The {backend} backend cannot score labels by log-probability ({reason}): "
                       "use scoring by generation instead.")


def scorer_for(backend: object) -> Scorer:
    """`backend` as a Scorer, or CannotScore saying why and offering generation scoring."""
    name = str(getattr(backend, "name", type(backend).__name__))
    reason = NO_PROMPT_LOGPROBS.get(name)
    if reason is None and not callable(getattr(backend, "score_many", None)):
        reason = "it has no label scoring"
    if reason is not None:
        raise cannot_score(name, reason)
    return backend  # type: ignore[return-value]


def as_text(prompt: PromptLike) -> str:
    """The text a completion model continues."""
    return prompt if isinstance(prompt, str) else prompt.render()


class StopFlag:
    """A Stop flag that is also set when any of `others` is (the caller's Stop button, say)."""

    def __init__(self, *others) -> None:
        self._own = threading.Event()
        self._others = [o for o in others if o is not None]

    def set(self) -> None:
        self._own.set()

    def is_set(self) -> bool:
        return self._own.is_set() or any(o.is_set() for o in self._others)

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early when set; True if set."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not self.is_set():
            self._own.wait(min(left, 0.05))
        return self.is_set()


def generate(backend: Backend, prompt: PromptLike, settings: GenerationSettings) -> Completion:
    """The blocking call, built from the stream."""
    *_, last = backend.stream(prompt, settings)
    return last


class StopText:
    """Completion text that grows piece by piece and is cut at the first end sequence.

    `visible` is the text that can be shown now: a tail that could still become an end sequence
    ("#" or "##" before "###") is held back until the next piece decides it.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self.text = ""
        self.stopped = False

    def add(self, piece: str) -> bool:
        """Append a piece; True once an end sequence has appeared (the text is then cut before it)."""
        searched = len(self.text)
        self.text += piece
        hits = [h for s in self.stops if (h := self.text.find(s, max(0, searched - len(s) + 1))) >= 0]
        if hits:
            self.text, self.stopped = self.text[: min(hits)], True
        return self.stopped

    @property
    def visible(self) -> str:
        if self.stopped:
            return self.text
        held = 0
        for s in self.stops:
            held = max(held, next((k for k in range(min(len(s) - 1, len(self.text)), 0, -1)
                                   if self.text.endswith(s[:k])), 0))
        return self.text[: len(self.text) - held]


def completions(
    pieces: Iterable[Piece],
    settings: GenerationSettings,
    *,
    backend: str,
    model: str,
    seed: int | None = None,
    prompt_tokens: int = 0,
) -> Iterator[Completion]:
    """Turn a raw stream into Completion snapshots, cutting at the first end sequence.

    Closing the raw stream (on a stop string, or when the consumer stops) stops the backend.
    A FewShotError from the backend ends the stream with an error snapshot that keeps the text.
    """
    start = time.perf_counter()
    text = StopText(settings.end_sequence)
    base = Completion("", None, prompt_tokens, 0, 0.0, backend, model, settings, seed)
    tokens, shown = 0, 0

    def snapshot(**kw) -> Completion:
        return replace(base, completion_tokens=tokens, seconds=time.perf_counter() - start, **kw)

    iterator = iter(pieces)
    try:
        for piece in iterator:
            if isinstance(piece, Final):
                yield replace(
                    snapshot(text=text.text, finish_reason=piece.finish_reason),
                    prompt_tokens=piece.prompt_tokens or prompt_tokens,
                    completion_tokens=piece.completion_tokens or tokens,
                )
                return
            tokens += 1
            if text.add(piece):
                yield snapshot(text=text.text, finish_reason="end_sequence")
                return
            if len(visible := text.visible) > shown:
                shown = len(visible)
                yield snapshot(text=visible)
        # A stream that ends without a Final was cut off.
        yield snapshot(
            text=text.text, finish_reason="error",
            error=f"The {backend} stream ended early without saying why; the text so far is kept. Run again.",
        )
    except FewShotError as exc:
        yield snapshot(text=text.text, finish_reason="error", error=str(exc))
    finally:
        close = getattr(iterator, "close", None)
        if close:
            close()


def failed(error: FewShotError, settings: GenerationSettings, *, backend: str, model: str) -> Completion:
    """A finished Completion that carries only an error message."""
    return Completion("", "error", backend=backend, model=model, settings=settings, error=str(error))


def sequential_many(
    backend: Backend, rows: Sequence[tuple[PromptLike, GenerationSettings]], cancel: threading.Event | None = None
) -> Iterator[tuple[int, Completion]]:
    """generate_many for backends that decode one row at a time: rows stream one after another."""
    for i, (prompt, settings) in enumerate(rows):
        last = None
        for last in backend.stream(prompt, settings):
            if cancel is not None and cancel.is_set() and not last.done:
                yield i, replace(last, finish_reason="cancelled")
                break
            yield i, last
        if cancel is not None and cancel.is_set():
            for j in range(i + 1, len(rows)):
                yield j, Completion("", "cancelled", backend=backend.name, model=backend.model, settings=rows[j][1])
            return
