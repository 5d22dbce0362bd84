"""Batched decoding for the embedded model: evaluate a prompt once, decode every row together.

One worker thread owns a llama.cpp context with 1 + ROWS sequences and is the only caller of
llama_decode. Sequence 0 keeps the evaluated prompt prefix, and the logits after its last token,
from run to run; sequences 1..ROWS hold rows. Every step:

1. admit waiting rows into free sequences: copy sequence 0, drop what differs from the row's
   prompt and queue the rest. Usually nothing is left: the cached prefix is the whole prompt and
   the first token is sampled from the stored logits, with no prompt token evaluated again;
2. one llama_decode carries every row's last token plus queued prompt tokens;
3. greedy rows (no repetition penalty) take the argmax of their logits, all in one numpy call:
   that is what llama.cpp's greedy sampler returns, without copying 49,152 candidates per row.
   Other rows sample with their own sampler chain, built exactly as `Llama.create_completion`
   builds it (once per row, reused every step), so a seeded row repeats a single call;
   then each row detokenizes and stops on its end sequence, end of text or max tokens;
4. finished rows free their sequence and the last row moves into the hole: without a unified KV
   cache, llama.cpp batches only consecutive sequence ids into one pass over the weights.

Concurrent callers' rows are merged into the same steps (continuous batching) rather than queued
behind each other: a second user's rows start at the next step and share its pass over the
weights, which costs far less than a step of its own. Label scoring uses the same rows: a
scoring row evaluates prompt + label and sums the label tokens' log-probabilities.

The context is sized for the largest row seen while its KV cache fits `kv_budget_mb`; a row that
needs more grows it between steps, carrying every sequence's KV cells over (llama_state_seq_*),
so rows in flight go on instead of draining first. Decode steps run on `n_threads`, steps with
prompt tokens on `n_threads_batch`. If the worker thread dies, every caller gets an error at once
and the next call starts a new worker.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import llama_cpp.llama_cpp as C
import numpy as np

from .backends.base import Completion, StopText
from .errors import BackendError, PromptError
from .settings import GenerationSettings

log = logging.getLogger(__name__)

N_BATCH = 512  # tokens per llama_decode call
MIN_SEQ_LEN = 512  # smallest per-sequence KV size; grows in powers of two with the prompts
KV_BUDGET_MB = 256  # KV cache kept between jobs; a larger context is given back once idle (9 x 1024 cells fit)
PENALTY_LAST_N = 64  # repetition-penalty window of Llama.create_completion (last_n_tokens_size)
SHARE_MIN = 16  # prompt tokens worth waiting a step for, rather than evaluating them again
_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])  # llama_token_data
_UTF8_LEADS = ((2, 0xC0), (3, 0xE0), (4, 0xF0))  # (bytes in the character, lead-byte bit pattern)
_DEAD = object()  # put on a job's queue when the worker thread died


@dataclass(frozen=True)
class Request:
    """One row: generate after `tokens` with `settings`, or (with `continuation`) score those tokens."""

    tokens: Sequence[int]
    settings: GenerationSettings | None = None
    seed: int = 0
    continuation: Sequence[int] = ()

    @property
    def need(self) -> int:
        """KV cells this row needs in its sequence."""
        return len(self.tokens) + (len(self.continuation) if self.continuation else self.settings.max_new_tokens)


class _Job:
    """The rows of one call; the worker puts (row index, Completion or log-probability) on `events`."""

    def __init__(self, requests: Sequence[Request], cancel: threading.Event | None, backend: str, model: str) -> None:
        self.requests, self.backend, self.model = requests, backend, model
        self.stopped = threading.Event()  # the caller stopped listening
        self.external = cancel  # the caller's Stop button
        self.events: queue.Queue = queue.Queue()
        self.worker: threading.Thread | None = None  # the thread serving it (set at submission)
        self.start = time.perf_counter()
        prompts = [r.tokens for r in requests]
        self.prefix = list(prompts[0][: _common_length(prompts)])
        self.needs_prefix_logits = any(len(p) == len(self.prefix) for p in prompts)
        self.need = max(r.need for r in requests)

    @property
    def cancelled(self) -> bool:
        return self.stopped.is_set() or (self.external is not None and self.external.is_set())


class _Row:
    """A row in flight: its sequence, the tokens still to evaluate, its sampler and its text."""

    def __init__(self, job: _Job, index: int, request: Request) -> None:
        self.job, self.index, self.request = job, index, request
        self.prompt = list(request.tokens)
        self.scored = list(request.continuation)
        self.seq = -1
        self.pos = 0  # tokens in the sequence so far
        self.feed: deque[int] = deque()  # tokens to evaluate next
        self.generated = 0
        self.logprob = 0.0
        self.done = False
        self.chain = None  # made at admission, in the worker, so a row never admitted owns none
        s = request.settings
        # Greedy with no penalty is exactly argmax: llama.cpp's penalties sampler is a no-op at 1.0.
        self.greedy = not self.scored and s.temperature == 0 and s.repetition_penalty == 1.0 if s else False
        if not self.scored:
            self.text = StopText(s.end_sequence)
            self.utf8 = codecs.getincrementaldecoder("utf-8")(errors="ignore")  # as create_completion
            self.shown = 0
            self.tail = b""  # the last 3 bytes generated, for create_completion's multi-byte rule
            self.multibyte = 0

    def start(self, kept: int, n_vocab: int) -> None:
        """Begin after `kept` tokens that are already in the sequence."""
        if not self.scored and not self.greedy:
            self.chain = _sampler_chain(self.request.settings, self.request.seed, n_vocab)
        self.pos = kept
        sequence = self.prompt + self.scored[:-1] if self.scored else self.prompt
        self.feed.extend(sequence[kept:])

    def wants_logits(self, pos: int) -> bool:
        return pos >= len(self.prompt) - 1

    def free(self) -> None:
        """Free the sampler chain (once; a row finishes in several places)."""
        if self.chain is not None:
            C.llama_sampler_free(self.chain)
            self.chain = None


class Engine:
    """Decodes many rows at once on one model. Thread-safe: call `generate` or `score` from anywhere."""

    def __init__(
        self,
        llm,
        *,
        rows: int = 8,
        n_threads: int = 1,
        n_threads_batch: int | None = None,
        max_seq_len: int = 2048,
        kv_budget_mb: float = KV_BUDGET_MB,
    ) -> None:
        self.llm = llm
        self.model = llm._model.model
        self.vocab = C.llama_model_get_vocab(self.model)
        self.n_vocab = llm.n_vocab()
        self.rows = rows
        self.n_threads = n_threads  # decode steps: one token per row
        self.n_threads_batch = n_threads_batch or n_threads  # steps carrying prompt tokens
        self.max_seq_len = max_seq_len
        self.ctx = None
        self.seq_len = 0  # KV cells per sequence in the current context
        self.kept_len = 0  # largest per-sequence size used so far whose KV cache fits the budget
        self.kv_budget = kv_budget_mb * 2**20
        self.contexts = 0  # contexts created so far (for tests and benchmarks)
        self._threads_now: int | None = None
        self._prompt_batch = True  # whether the batch being decoded carries prompt tokens
        self._ids = np.arange(self.n_vocab, dtype=np.int32)
        self._candidates = np.zeros(self.n_vocab, dtype=_TOKEN_DATA)  # reused by _sample
        self.batch = C.llama_batch_init(N_BATCH, 0, 1)
        self.prefix: list[int] = []  # tokens in sequence 0
        self.prefix_logits: np.ndarray | None = None  # logits after the last prefix token
        self.slots: list[_Row | None] = [None] * (rows + 1)  # by sequence id; 0 is the prefix
        self.waiting: deque[_Row] = deque()
        self.evaluated = 0  # prompt tokens evaluated so far (for tests and benchmarks)
        self.steps = 0
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None
        self._piece = ctypes.create_string_buffer(256)
        self._outbox: dict[_Job, list] = {}
        self._closing = False

    # --- public ------------------------------------------------------------------------------

    def generate(
        self, requests: Sequence[Request], cancel: threading.Event | None = None, *, backend: str = "", model: str = ""
    ) -> Iterator[tuple[int, Completion]]:
        """Stream (row index, Completion snapshot); every row's last snapshot is done."""
        job = self._submit(requests, cancel, backend, model)
        pending = set(range(len(requests)))
        try:
            while pending:
                items = self._next(job)
                if items is _DEAD:  # the worker died: every row still running ends with the error
                    for index in sorted(pending):
                        yield index, _dead_completion(job, index)
                    return
                for index, completion in items:
                    if completion.done:
                        pending.discard(index)
                    yield index, completion
        finally:
            job.stopped.set()  # the caller stopped listening: free its rows

    def score(self, pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[float]:
        """Log-probability of each continuation after its prompt; all pairs share the same batches."""
        if any(not c for _, c in pairs):
            raise ValueError("every continuation needs at least one token")
        job = self._submit([Request(p, continuation=c) for p, c in pairs], None, "", "")
        scores: list[float | None] = [None] * len(pairs)
        left = len(pairs)
        try:
            while left:
                items = self._next(job)
                if items is _DEAD:
                    raise BackendError(DEAD_MESSAGE, backend="embedded")
                for index, value in items:
                    if isinstance(value, BaseException):
                        raise value
                    scores[index] = value
                    left -= 1
        finally:
            job.stopped.set()  # an error (or the caller leaving) stops the job's other rows
        return scores

    def _next(self, job: _Job):
        """The job's next batch of news, or _DEAD once its worker is gone without sending it."""
        while True:
            try:
                return job.events.get(timeout=1.0)
            except queue.Empty:
                # The worker's own exit handler puts _DEAD; this catches a handler that never ran.
                if job.worker is not None and not job.worker.is_alive() and job.events.empty():
                    return _DEAD

    def close(self, timeout: float = 5.0) -> bool:
        """Stop the worker (rows in flight finish as cancelled) and free the context.

        True when everything was freed; False if the worker did not stop in time, in which case
        nothing is freed (the model must then stay loaded too: the worker may still be decoding).
        """
        with self._cond:
            self._closing = True
            for row in [*self._active(), *self.waiting]:
                row.job.stopped.set()
            self._cond.notify()
            worker = self._worker
        if worker is not None:
            worker.join(timeout)
            if worker.is_alive():
                return False
        self._free_context()
        if self.batch is not None:
            C.llama_batch_free(self.batch)
            self.batch = None
        return True

    def _free_context(self) -> None:
        if self.ctx is not None:
            C.llama_free(self.ctx)
        self.ctx, self.seq_len, self.prefix, self.prefix_logits = None, 0, [], None
        self._threads_now = None

    # --- submission (caller threads) ---------------------------------------------------------

    def _submit(self, requests, cancel, backend, model) -> _Job:
        if not requests:
            raise ValueError("no rows to run")
        job = _Job(requests, cancel, backend, model)
        if any(not r.tokens for r in requests):
            raise PromptError("The prompt is empty: write the text the model should continue.")
        if job.need > self.max_seq_len:
            raise PromptError(
                f"A row needs {job.need} tokens of context but the model's context holds {self.max_seq_len}."
            )
        rows = [_Row(job, i, r) for i, r in enumerate(requests)]
        with self._cond:
            if self._closing:
                raise BackendError("The embedded model is shutting down.", backend="embedded")
            self.waiting.extend(rows)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="fewshot-engine", daemon=True)
                self._worker.start()
            job.worker = self._worker
            self._cond.notify()
        return job

    # --- the worker --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self._on_exit()

    def _on_exit(self) -> None:
        """The worker is ending. After close() nothing is left; otherwise it died (an error that
        escaped a step's handler): end every row in flight with an error, so no caller waits for
        news that will never come, and leave the engine clean for the next worker."""
        with self._cond:
            rows = [*self._active(), *self.waiting]
            self.waiting.clear()
            if self._worker is threading.current_thread():
                self._worker = None
        jobs = {row.job for row in rows} | set(self._outbox)
        self._outbox.clear()
        for row in rows:
            row.done = True
            row.free()
        self.slots = [None] * (self.rows + 1)
        if rows:
            log.error("embedded engine worker died with %d rows in flight", len(rows))
            try:
                self._free_context()  # its state is unknown; the next worker makes a fresh one
            except Exception:  # pragma: no cover - freeing failed too: drop the handle
                self.ctx = None
        for job in jobs:
            job.events.put(_DEAD)

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self.waiting and not self._active() and not self._closing:
                    self._cond.wait()
                closing = self._closing
            try:
                self._step()
            except Exception as exc:  # keep serving: fail what is in flight, start afresh
                log.exception("embedded engine step failed")
                self._fail_everything(exc)
            self._flush()
            if closing and not self.waiting and not self._active():
                return  # close() frees the context once this thread is gone

    def _active(self) -> list[_Row]:
        return [r for r in self.slots[1:] if r is not None]

    def _step(self) -> None:
        self._drop_cancelled()
        if not self._active():
            with self._cond:
                head = self.waiting[0].job if self.waiting else None
            if head is None:
                return
            self._prepare(head)
        else:
            self._grow_for_waiting()
        self._admit()
        self._flush()  # first tokens sampled from the stored logits go out before the decode
        entries = self._fill_batch()
        if entries:
            self._decode()
            self.steps += 1
            self._on_step_logits(entries)
        self._release_finished()

    def _drop_cancelled(self) -> None:
        for row in self._active():
            if row.job.cancelled:
                self._finish(row, "cancelled")
        with self._cond:
            cancelled = [r for r in self.waiting if r.job.cancelled]
            for row in cancelled:
                self.waiting.remove(row)
        for row in cancelled:
            self._finish(row, "cancelled")
        self._release_finished()

    def _size_for(self, need: int) -> int:
        """Per-sequence KV cells to run a row needing `need`: a power of two, never below the largest
        size already used within the memory budget (so alternating long and short prompts keep one context)."""
        size = min(max(MIN_SEQ_LEN, 1 << (need - 1).bit_length()), self.max_seq_len)
        return max(size, min(self.kept_len, self.max_seq_len))

    def _kv_bytes(self, seq_len: int) -> int:
        """Bytes of f16 K and V cache for (rows + 1) sequences of `seq_len` cells."""
        m = self.model
        per_cell = 2 * 2 * C.llama_model_n_layer(m) * C.llama_model_n_head_kv(m) * (
            C.llama_model_n_embd(m) // C.llama_model_n_head(m)
        )
        return per_cell * seq_len * (self.rows + 1)

    def _prepare(self, job: _Job) -> None:
        """Idle: size the context for the next job and bring sequence 0 to its shared prefix."""
        want = self._size_for(job.need)
        if self.ctx is None:
            self._new_context(want)
        elif want != self.seq_len:  # grow, or give back a context larger than the budget keeps
            self._resize(want)
        keep = _common_length([self.prefix, job.prefix])
        stored = self.prefix_logits is not None and keep == len(self.prefix)
        if job.needs_prefix_logits and keep == len(job.prefix) and not stored:
            keep -= 1  # evaluate the last token again to get its logits
        mem = C.llama_get_memory(self.ctx)
        C.llama_memory_seq_rm(mem, 0, keep, -1)
        if keep < len(self.prefix):
            self.prefix_logits = None
        self.prefix = job.prefix[:keep]
        rest = job.prefix[keep:]
        for start in range(0, len(rest), N_BATCH):
            chunk = rest[start : start + N_BATCH]
            last = start + len(chunk) == len(rest)
            self._set_batch([(t, keep + start + j, 0, last and j == len(chunk) - 1) for j, t in enumerate(chunk)])
            self._decode()
            self.evaluated += len(chunk)
            self.prefix += chunk
            if last:
                self.prefix_logits = self._logits(len(chunk) - 1).copy()

    def _grow_for_waiting(self) -> None:
        """Rows are decoding and the next waiting row needs a larger context: grow it now, between
        steps, carrying every sequence over, instead of waiting for the active rows to drain."""
        with self._cond:
            need = self.waiting[0].request.need if self.waiting else 0
        if need > self.seq_len:
            self._resize(self._size_for(need))

    def _resize(self, seq_len: int) -> None:
        """A context of `seq_len` cells per sequence holding the same sequences (sequence 0 only if
        its prefix fits), their KV cells copied over; the old context is freed afterwards."""
        keep = [s for s, row in enumerate(self.slots) if row is not None and s > 0]
        if 0 < len(self.prefix) < seq_len:
            keep.insert(0, 0)
        states = []
        for seq in keep:
            size = C.llama_state_seq_get_size(self.ctx, seq)
            buffer = (ctypes.c_uint8 * size)()
            C.llama_state_seq_get_data(self.ctx, buffer, size, seq)
            states.append((seq, buffer, size))
        prefix, logits = (self.prefix, self.prefix_logits) if 0 in keep else ([], None)
        old, self.ctx = self.ctx, None
        try:
            self._new_context(seq_len)
            for seq, buffer, size in states:
                if not C.llama_state_seq_set_data(self.ctx, buffer, size, seq):
                    raise BackendError(f"llama.cpp could not move sequence {seq} to a larger context",
                                       backend="embedded")
        finally:
            C.llama_free(old)
        self.prefix, self.prefix_logits = prefix, logits

    def _new_context(self, seq_len: int) -> None:
        self._free_context()
        params = C.llama_context_default_params()
        params.n_seq_max = self.rows + 1
        params.n_ctx = seq_len * (self.rows + 1)
        params.n_batch = params.n_ubatch = N_BATCH
        params.n_threads, params.n_threads_batch = self.n_threads, self.n_threads_batch
        # As Llama() does: no flash attention, so logits match create_completion exactly. One KV
        # stream per sequence (not unified): with a unified cache greedy rows drift.
        params.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.kv_unified = False
        params.no_perf = True
        self.ctx = C.llama_init_from_model(self.model, params)
        if not self.ctx:
            raise BackendError("llama.cpp could not create a context for batched decoding", backend="embedded")
        self.seq_len = C.llama_n_ctx_seq(self.ctx)
        self.prefix, self.prefix_logits = [], None
        self.contexts += 1
        if self._kv_bytes(self.seq_len) <= self.kv_budget:
            self.kept_len = max(self.kept_len, self.seq_len)

    def _admit(self) -> None:
        """Move waiting rows into free sequences, each starting from a copy of the sequence that
        shares most of its prompt: sequence 0 (the cached prefix) or a row already in flight."""
        mem = C.llama_get_memory(self.ctx)
        while True:
            with self._cond:
                if not self.waiting or self.waiting[0].request.need > self.seq_len:
                    return  # a row that needs a larger context waits until the engine is idle
                row = self.waiting[0]
                source, keep = self._best_source(row.prompt)
                from_stored = (source == 0 and keep == len(row.prompt) == len(self.prefix)
                               and self.prefix_logits is not None)
                seq = next((s for s in range(1, self.rows + 1) if self.slots[s] is None), None)
                if seq is None and not (from_stored and len(row.scored) == 1):
                    return
                if not from_stored and self._worth_waiting(row.prompt, keep):
                    return  # a row of its own job is evaluating this prompt: copy that one next step
                self.waiting.popleft()
            try:
                if keep == len(row.prompt) and not from_stored:
                    keep -= 1  # evaluate the last prompt token again, for its logits
                row.start(keep, self.n_vocab)
                self.evaluated += len(row.feed) - (len(row.scored) - 1 if row.scored else 0)
                if from_stored:
                    self._on_stored_logits(row)  # may already finish it: a one-token label, a first-token stop
                if row.done:
                    continue
                C.llama_memory_seq_cp(mem, source, seq, -1, -1)  # whole-stream copy: the only kind across streams
                C.llama_memory_seq_rm(mem, seq, keep, -1)
                row.seq, self.slots[seq] = seq, row
            except Exception:
                self._finish(row, "error", "The embedded model failed while starting this row.")
                raise

    def _best_source(self, prompt: list[int]) -> tuple[int, int]:
        """(sequence, tokens in common) of the evaluated tokens that best match `prompt`."""
        best = (0, _common_length([self.prefix, prompt]))
        for row in self._active():
            evaluated = row.prompt[: min(row.pos, len(row.prompt))]
            if (n := _common_length([evaluated, prompt])) > best[1]:
                best = (row.seq, n)
        return best

    def _worth_waiting(self, prompt: list[int], keep: int) -> bool:
        """True when a row in flight is still evaluating much more of this prompt than can be copied
        now: a new job's siblings then share its evaluation instead of each doing it again."""
        return any(
            row.pos < len(row.prompt) and _common_length([row.prompt, prompt]) > keep + SHARE_MIN
            for row in self._active()
        )

    def _fill_batch(self) -> list[tuple[_Row | None, int]]:
        """One token from every decoding row, then prompt tokens up to N_BATCH, in sequence order."""
        active = self._active()
        quota = {id(r): 1 for r in active if len(r.feed) == 1}
        budget = N_BATCH - len(quota)
        for r in active:
            if len(r.feed) > 1:
                quota[id(r)] = take = min(len(r.feed), max(budget, 0))
                budget -= take
        entries, items = [], []
        prompt = any(len(r.feed) > 1 for r in active)
        for r in sorted(active, key=lambda r: r.seq):
            for _ in range(quota.get(id(r), 0)):
                token = r.feed.popleft()
                want = r.wants_logits(r.pos)
                items.append((token, r.pos, r.seq, want))
                entries.append((r if want else None, r.pos))
                r.pos += 1
        if items:
            self._set_batch(items, prompt)
        return entries

    def _set_batch(self, items: list[tuple[int, int, int, bool]], prompt: bool = True) -> None:
        """Fill the batch; `prompt` when it carries prompt tokens (n_threads_batch), not only decode tokens."""
        self._prompt_batch = prompt
        b = self.batch
        b.n_tokens = len(items)
        for i, (token, pos, seq, logits) in enumerate(items):
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = token, pos, 1, logits
            b.seq_id[i][0] = seq

    def _decode(self) -> None:
        # llama.cpp runs any batch of more than one token on n_threads_batch; a decode step (one
        # token per row) should run on n_threads, so pick by what the batch carries.
        threads = self.n_threads_batch if self._prompt_batch else self.n_threads
        if threads != self._threads_now:
            C.llama_set_n_threads(self.ctx, threads, threads)
            self._threads_now = threads
        if (code := C.llama_decode(self.ctx, self.batch)) != 0:
            raise BackendError(f"llama_decode failed with code {code}", backend="embedded")

    def _logits(self, index: int) -> np.ndarray:
        return np.ctypeslib.as_array(C.llama_get_logits_ith(self.ctx, index), shape=(self.n_vocab,))

    # --- per-row work --------------------------------------------------------------------------

    def _on_step_logits(self, entries: list[tuple[_Row | None, int]]) -> None:
        """Every row's token or log-probability from this step's logits: greedy rows and scoring rows
        in one numpy pass over all outputs, sampled rows through their own chain."""
        outputs = []  # (batch index, output index, row, position) of every token with logits
        for i, (row, pos) in enumerate(entries):
            if row is not None:
                outputs.append((i, len(outputs), row, pos))
        logits = np.ctypeslib.as_array(C.llama_get_logits(self.ctx), shape=(len(outputs), self.n_vocab))
        greedy = [k for _, k, row, _ in outputs if row.greedy]
        picked = dict(zip(greedy, logits[greedy].argmax(axis=1).tolist(), strict=True)) if greedy else {}
        scoring = [(k, row.scored[pos + 1 - len(row.prompt)]) for _, k, row, pos in outputs if row.scored]
        logprobs = {}
        if scoring:
            ks, targets = zip(*scoring, strict=True)
            logprobs = dict(zip(ks, _logprobs(logits[list(ks)], np.array(targets)).tolist(), strict=True))
        for i, k, row, pos in outputs:
            if row.done:
                continue
            if row.scored:
                self._add_logprob(row, logprobs[k], pos)
            elif row.greedy:
                self._accept(row, picked[k])
            else:
                self._accept(row, C.llama_sampler_sample(row.chain, self.ctx, i))

    def _on_stored_logits(self, row: _Row) -> None:
        logits = self.prefix_logits
        if row.scored:
            self._add_logprob(row, float(_logprobs(logits[None, :], np.array([row.scored[0]]))[0]),
                              len(row.prompt) - 1)
        elif row.greedy:
            self._accept(row, int(logits.argmax()))
        else:
            self._accept(row, self._sample(row.chain, logits))

    def _sample(self, chain, logits: np.ndarray) -> int:
        """llama_sampler_sample, but on stored logits instead of the context's last batch."""
        data = self._candidates  # reused: the chain sorts and rewrites it in place, so refill it
        data["id"] = self._ids
        data["logit"] = logits
        data["p"] = 0.0
        candidates = C.llama_token_data_array(
            data=data.ctypes.data_as(C.llama_token_data_p), size=len(logits), selected=-1, sorted=False
        )
        C.llama_sampler_apply(chain, ctypes.byref(candidates))
        token = int(candidates.data[candidates.selected].id)
        C.llama_sampler_accept(chain, token)
        return token

    def _add_logprob(self, row: _Row, logprob: float, pos: int) -> None:
        row.logprob += logprob
        if pos + 1 == len(row.prompt) + len(row.scored) - 1:
            row.done = True
            self._emit(row, row.logprob)

    def _accept(self, row: _Row, token: int) -> None:
        """A row sampled `token`: grow its text, stream it, and decide whether it is done."""
        settings = row.request.settings
        if C.llama_vocab_is_eog(self.vocab, token):
            return self._finish(row, "end_of_text")
        row.generated += 1
        n = C.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece), 0, False)
        if n < 0:  # a piece longer than the buffer: grow it and ask again
            self._piece = ctypes.create_string_buffer(-n)
            n = C.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece), 0, False)
        piece = self._piece.raw[: max(n, 0)]
        # create_completion does not stop on max tokens while the text ends inside a multi-byte
        # character (its `multibyte_fix`): the same rule, so a row ends where the single call does.
        row.tail = (row.tail + piece)[-3:]
        for k, byte in zip(range(3, 0, -1), row.tail, strict=False):
            for num, lead in _UTF8_LEADS:
                if num > k and byte & lead == lead:
                    row.multibyte = num - k
        inside = row.multibyte > 0
        row.multibyte -= inside
        if row.text.add(row.utf8.decode(piece)):
            return self._finish(row, "end_sequence")
        if (row.generated >= settings.max_new_tokens and not inside) or row.pos + 1 >= self.seq_len:
            return self._finish(row, "length")
        row.feed.append(token)
        if len(visible := row.text.visible) > row.shown:
            row.shown = len(visible)
            self._emit(row, self._snapshot(row, visible, None))

    def _snapshot(self, row: _Row, text: str, finish: str | None, error: str | None = None) -> Completion:
        job, request = row.job, row.request
        return Completion(
            text, finish, len(row.prompt), row.generated, time.perf_counter() - job.start, job.backend, job.model,
            request.settings, request.seed, error,
        )

    def _finish(self, row: _Row, reason: str, error: str | None = None) -> None:
        if row.done:
            return
        row.done = True
        row.free()
        if row.scored:
            failure = BackendError(error, backend="embedded") if error else PromptError("Scoring was cancelled.")
            self._emit(row, failure)
            return
        if not row.text.stopped and row.text.add(row.utf8.decode(b"", final=True)) and reason == "length":
            reason = "end_sequence"  # the last bytes completed an end sequence
        self._emit(row, self._snapshot(row, row.text.text, reason, error))

    def _emit(self, row: _Row, item) -> None:
        """Collect a row's news; `_flush` hands each job its step's news at once (one wake-up per step)."""
        self._outbox.setdefault(row.job, []).append((row.index, item))

    def _flush(self) -> None:
        for job, items in self._outbox.items():
            job.events.put(items)
        self._outbox.clear()

    def _release_finished(self) -> None:
        """Free finished rows' sequences and keep the active ones packed at 1..k."""
        mem = C.llama_get_memory(self.ctx) if self.ctx else None
        for seq in range(1, self.rows + 1):
            row = self.slots[seq]
            if row is not None and row.done:
                C.llama_memory_seq_rm(mem, seq, -1, -1)
                self.slots[seq] = None
        while True:
            free = next((s for s in range(1, self.rows + 1) if self.slots[s] is None), None)
            last = max((s for s in range(1, self.rows + 1) if self.slots[s] is not None), default=None)
            if free is None or last is None or last < free:
                return
            C.llama_memory_seq_cp(mem, last, free, -1, -1)
            C.llama_memory_seq_rm(mem, last, -1, -1)
            row, self.slots[last] = self.slots[last], None
            row.seq, self.slots[free] = free, row

    def _fail_everything(self, exc: Exception) -> None:
        message = f"The embedded model failed ({exc}). Run again; if it repeats, restart the app."
        with self._cond:
            rows = [*self._active(), *self.waiting]
            self.waiting.clear()
        for row in rows:
            self._finish(row, "error", message)
        self.slots = [None] * (self.rows + 1)
        self._free_context()


def _common_length(sequences: Sequence[Sequence[int]]) -> int:
    """Length of the longest common prefix."""
    n = min(len(s) for s in sequences)
    for i in range(n):
        first = sequences[0][i]
        if any(s[i] != first for s in sequences[1:]):
            return i
    return n


def _sampler_chain(settings: GenerationSettings, seed: int, n_vocab: int):
    """The chain Llama.create_completion builds for these settings (see Llama._init_sampler)."""
    chain = C.llama_sampler_chain_init(C.llama_sampler_chain_default_params())
    parts = [C.llama_sampler_init_penalties(n_vocab, PENALTY_LAST_N, settings.repetition_penalty, 0.0, 0.0)]
    if settings.temperature == 0:
        parts.append(C.llama_sampler_init_greedy())
    else:
        parts += [
            C.llama_sampler_init_top_k(settings.top_k),
            C.llama_sampler_init_typical(1.0, 1),
            C.llama_sampler_init_top_p(settings.top_p, 1),
            C.llama_sampler_init_min_p(0.0, 1),
            C.llama_sampler_init_temp(settings.temperature),
            C.llama_sampler_init_dist(seed),
        ]
    for part in parts:
        C.llama_sampler_chain_add(chain, part)
    return chain


def _logprobs(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """log softmax(logits[i])[targets[i]] for each row, in float64 (as a full evaluation computes it)."""
    values = logits.astype(np.float64)
    top = values.max(axis=1, keepdims=True)
    log_total = np.log(np.exp(values - top).sum(axis=1)) + top[:, 0]
    return values[np.arange(len(targets)), targets] - log_total


DEAD_MESSAGE = "The embedded model's worker stopped unexpectedly. Run again; if it repeats, restart the app."


def _dead_completion(job: _Job, index: int) -> Completion:
    request = job.requests[index]
    return Completion("", "error", len(request.tokens), 0, time.perf_counter() - job.start, job.backend, job.model,
                      request.settings, request.seed, DEAD_MESSAGE)
