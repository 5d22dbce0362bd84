"""What every HTTP backend shares: sessions, retries, concurrency, error mapping, stream parsing.

A protocol module (openai.py, tgi.py, ollama.py, chat.py) writes two small pieces: `request()`
builds the path and JSON body, `pieces()` turns the streamed response into text pieces and a
`Final`. Everything else is here. The parsing and error mapping are pure functions, tested on
lists of lines and on status/body pairs.

Rows wait for their endpoint's `Gate` in a queue, not in a pool thread: a thread is taken only
once the endpoint has room, so one long sweep against a server that takes one request at a time
cannot hold the shared pool (and every other user) hostage.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError

from ..errors import BackendError, BackendOverloaded, BackendRejected, BackendUnavailable, FewShotError, log_failure
from ..settings import GenerationSettings
from .base import Completion, Final, Piece, PromptLike, StopFlag, completions, failed

MAX_CONCURRENCY = 8  # rows in flight per backend
SHARED_THREADS = 64  # threads for all HTTP rows together
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0  # longest wait for a server to start answering (it may be queueing the request)
IDLE_TIMEOUT = 30.0  # longest silence once a stream has started sending
MAX_RETRIES = 4  # for 429 and 503-while-loading, before any text has arrived
MAX_WAIT = 60.0  # seconds of waiting across those retries
LEGACY_HF_HOST = "api-inference.huggingface.co"


log = logging.getLogger(__name__)

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def executor() -> ThreadPoolExecutor:
    """One thread pool for every HTTP backend's rows (each backend bounds its own share)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(SHARED_THREADS, thread_name_prefix="fewshot-http")
        return _executor


class Gate:
    """How many requests an endpoint takes at once, and the rows waiting for a turn.

    A row waits here as a callback in a queue, holding no thread; callers (each `generate_many`,
    each single stream) take turns, so a 64-row sweep does not put everyone else's rows behind all
    of its own. The limit can change while rows hold slots (a probe finds a server that takes one
    request at a time): a new row gets in only once fewer rows than the new limit are in flight.
    """

    def __init__(self, limit: int) -> None:
        self._limit, self._busy = max(1, int(limit)), 0
        self._lock = threading.Lock()
        self._waiting: dict[object, deque[Callable[[], bool]]] = {}  # by caller, in turn order

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def busy(self) -> int:
        return self._busy

    def resize(self, limit: int) -> None:
        with self._lock:
            self._limit = max(1, int(limit))
            ready = self._admit()
        self._start(ready)

    def enter(self, caller: object, start: Callable[[], bool]) -> None:
        """Call `start()` once a slot is free (now, if one is). `start` returns False if it did not
        use the slot (its row was stopped meanwhile); otherwise its row must call `leave()` when done."""
        with self._lock:
            self._waiting.setdefault(caller, deque()).append(start)
            ready = self._admit()
        self._start(ready)

    def leave(self) -> None:
        with self._lock:
            self._busy -= 1
            ready = self._admit()
        self._start(ready)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot in the calling thread (a single stream), waiting for its turn."""
        self.__enter__()
        try:
            yield
        finally:
            self.leave()

    def __enter__(self) -> Gate:
        """`with gate:` works as it did with a semaphore: wait in turn, in the calling thread."""
        admitted = threading.Event()
        self.enter(object(), lambda: admitted.set() or True)
        admitted.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        self.leave()

    def _admit(self) -> list[Callable[[], bool]]:
        """Under the lock: take waiting rows while there is room, one caller after another."""
        ready = []
        while self._busy < self._limit and self._waiting:
            caller = next(iter(self._waiting))
            rows = self._waiting.pop(caller)
            ready.append(rows.popleft())
            self._busy += 1
            if rows:
                self._waiting[caller] = rows  # back of the line: the next caller goes first
        return ready

    def _start(self, ready: list[Callable[[], bool]]) -> None:
        """Outside the lock (a start may submit to the pool): run them; give back unused slots."""
        while ready:
            unused = sum(1 for start in ready if start() is False)
            if not unused:
                return
            with self._lock:
                self._busy -= unused
                ready = self._admit()


class HTTPBackend:
    """A backend behind an HTTP endpoint. Subclasses set `name` and write `request()` and `pieces()`."""

    name = "http"
    #: Path suffixes users paste along with the base URL, removed so `url` is the server's base.
    endpoint_suffixes: tuple[str, ...] = ()

    def __init__(
        self,
        url: str,
        model: str = "",
        token: str | None = None,
        *,
        timeout: float = READ_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
        max_concurrency: int = MAX_CONCURRENCY,
        max_retries: int = MAX_RETRIES,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self.url = normalize_url(url, self.endpoint_suffixes, self.name)
        self.model = model
        self.timeout, self.idle_timeout = timeout, idle_timeout
        self.max_retries, self.max_wait = max_retries, max_wait
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(pool_connections=2, pool_maxsize=max_concurrency))
        self.session.mount("https://", HTTPAdapter(pool_connections=2, pool_maxsize=max_concurrency))
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self._token = token or ""
        self.gate = Gate(max_concurrency)

    def set_concurrency(self, limit: int) -> None:
        """How many requests this endpoint gets at once from now on (rows in flight finish first)."""
        self.gate.resize(limit)

    @property
    def _gate(self) -> Gate:
        return self.gate

    @_gate.setter
    def _gate(self, value: Any) -> None:
        # openai.py narrows llama_cpp.server's gate by assigning a new semaphore; swapping the object
        # would let new rows in beside those holding the old one, so the one Gate is resized instead.
        self.set_concurrency(value.limit if isinstance(value, Gate) else getattr(value, "_initial_value", 1))

    def close(self) -> None:
        """Close the kept-alive connections (rows still streaming finish on theirs)."""
        self.session.close()

    def hide_token(self, text: str) -> str:
        """`text` without this backend's token: a server may quote the credentials it got in an error."""
        return text.replace(self._token, "[token]") if self._token and text else text

    def _failed(self, exc: Exception, settings: GenerationSettings, logged: bool = True) -> Completion:
        """A failed row for an error caught outside the stream, logged (as one line if expected)."""
        error = exc if isinstance(exc, FewShotError) else BackendError(f"Unexpected failure: {exc}", backend=self.name)
        message = self.hide_token(str(error))
        if logged and isinstance(exc, FewShotError):
            log.warning("%s at %s: %s", self.name, self.url, " ".join(message.split()))
        elif logged:
            log_failure(log, f"{self.name} at {self.url}", exc)
        return replace(failed(error, settings, backend=self.name, model=self.model), error=message)

    # --- to write per protocol --------------------------------------------------------------

    def request(self, prompt: PromptLike, settings: GenerationSettings, seed: int) -> tuple[str, dict[str, Any]]:
        """(path below the base URL, JSON body) for one streamed completion."""
        raise NotImplementedError

    def pieces(self, lines: Iterator[str]) -> Iterator[Piece]:
        """Text pieces, then a Final, from the response's lines; BackendError on an error event."""
        raise NotImplementedError

    def whole(self, data: Any) -> Iterator[Piece]:
        """Pieces from a complete JSON answer, for servers that do not stream this request."""
        raise BackendError(f"{self.name} answered with one JSON document instead of a stream.", backend=self.name)

    def recover(self, body: dict[str, Any], error: BackendRejected) -> dict[str, Any] | None:
        """A body to send once more after the server refused this one, or None."""
        return None

    def ignored(self, settings: GenerationSettings) -> list[str]:
        """Settings this server cannot take (shown with the completion)."""
        return []

    def prepare(self) -> None:
        """Learn about the server before the first request (its type, model, how many rows it takes)."""

    # --- the Backend protocol ----------------------------------------------------------------

    def stream(self, prompt: PromptLike, settings: GenerationSettings) -> Iterator[Completion]:
        try:
            self.prepare()
        except FewShotError as exc:
            yield self._failed(exc, settings)
            return
        with self.gate.slot():  # in the caller's own thread
            yield from self._send(prompt, settings, None)

    def generate_many(
        self, rows: Sequence[tuple[PromptLike, GenerationSettings]], cancel: threading.Event | None = None
    ) -> Iterator[tuple[int, Completion]]:
        """Rows run concurrently (at most `max_concurrency` at once), each streaming as it goes.
        On Stop every unfinished row ends at once as cancelled, with the text it had."""
        events: queue.Queue = queue.Queue()
        stop = StopFlag(cancel)
        caller = object()  # this call's turn at the gate

        def work(i: int, prompt: PromptLike, settings: GenerationSettings) -> None:
            """One row, in a pool thread, holding a gate slot it got before the thread."""
            try:
                for c in self._send(prompt, settings, stop):
                    events.put((i, c))
            except Exception as exc:  # a row never goes missing, whatever happens in it
                events.put((i, self._failed(exc, settings)))
            finally:
                self.gate.leave()

        def start(i: int, prompt: PromptLike, settings: GenerationSettings) -> bool:
            if stop.is_set():  # stopped while waiting: never sent, and no thread taken
                events.put((i, Completion("", "cancelled", backend=self.name, model=self.model, settings=settings)))
                return False
            try:
                executor().submit(work, i, prompt, settings)
            except RuntimeError as exc:  # the pool is shut down: the interpreter is exiting
                events.put((i, self._failed(BackendUnavailable(f"Not sent: {exc}", backend=self.name), settings)))
                return False
            return True

        def dispatch() -> None:
            """Learn about the server once, then queue every row at the gate (no thread held there)."""
            try:
                self.prepare()
            except Exception as exc:
                for i, (_, settings) in enumerate(rows):
                    events.put((i, self._failed(exc, settings, logged=i == 0)))  # one cause: one log line
                return
            for i, (prompt, settings) in enumerate(rows):
                self.gate.enter(caller, partial(start, i, prompt, settings))

        executor().submit(dispatch)
        latest: dict[int, Completion] = {}
        try:
            while len([c for c in latest.values() if c.done]) < len(rows):
                try:
                    i, c = events.get(timeout=0.1)
                except queue.Empty:
                    if stop.is_set():
                        break
                    continue
                if not (i in latest and latest[i].done):
                    latest[i] = c
                    yield i, c
            for i, (_, settings) in enumerate(rows):  # stopped: do not wait for silent servers
                if i not in latest or not latest[i].done:
                    last = latest.get(i) or Completion("", backend=self.name, model=self.model, settings=settings)
                    yield i, replace(last, finish_reason="cancelled")
        finally:
            stop.set()  # the caller stopped listening: end the rows still streaming

    # --- machinery ---------------------------------------------------------------------------

    def _send(self, prompt: PromptLike, settings: GenerationSettings, stop: StopFlag | None) -> Iterator[Completion]:
        """One row's request and its snapshots; the caller holds a gate slot."""
        seed = settings.seed if settings.seed is not None else random.randrange(2**31)
        if stop is not None and stop.is_set():
            yield Completion("", "cancelled", backend=self.name, model=self.model, settings=settings, seed=seed)
            return  # never sent
        note = None
        for c in completions(
            self._attempts(prompt, settings, seed, stop), settings, backend=self.name, model=self.model, seed=seed
        ):
            if c.done and not c.error:
                ignored = self.ignored(settings)
                note = f"not sent to this server: {', '.join(ignored)}" if ignored else None
            if c.error:
                c = replace(c, error=self.hide_token(c.error))
                if stop is None or not stop.is_set():  # a stopped row's end is nobody's failure
                    log.warning("%s row at %s failed: %s", self.name, self.url, " ".join(c.error.split()))
            if stop is not None and stop.is_set() and not c.done:
                yield replace(c, finish_reason="cancelled", model=self.model)
                return
            yield replace(c, model=self.model, note=note)

    def _attempts(
        self, prompt: PromptLike, settings: GenerationSettings, seed: int, stop: StopFlag | None
    ) -> Iterator[Piece]:
        """The raw stream, retrying 429 and 503 (model loading) with backoff while nothing has streamed."""
        waited, recovered = 0.0, False
        path, body = self.request(prompt, settings, seed)
        for attempt in range(self.max_retries + 1):
            try:
                response = self._post(path, body)
            except BackendOverloaded as exc:
                delay = backoff(attempt, exc.retry_after)
                if attempt == self.max_retries or waited + delay > self.max_wait:
                    raise BackendOverloaded(
                        f"{exc} Gave up after {attempt + 1} tries over {waited:.0f} s; try again later.",
                        backend=self.name, retry_after=exc.retry_after,
                    ) from None
                if stop is None:
                    time.sleep(delay)
                elif stop.wait(delay):
                    yield Final("cancelled")
                    return
                waited += delay
                continue
            except BackendRejected as exc:
                retry = None if recovered else self.recover(body, exc)
                if retry is None:
                    raise
                body, recovered = retry, True
                continue
            with response:
                kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if kind == "application/json":  # a server that answers this request in one piece
                    yield from self.whole(parse_json(_body_text(response), self.name))
                elif kind in ("text/event-stream", "application/x-ndjson", "application/jsonl", ""):
                    yield from self.pieces(self._lines(response))
                else:
                    raise BackendError(
                        f"{self.name} answered with {kind} instead of a stream: {_body_text(response)[:120]!r}. "
                        "Is the URL the model server's base URL?", backend=self.name,
                    )
            return

    def _post(self, path: str, body: dict[str, Any]) -> requests.Response:
        url = self.url + path
        for attempt in (1, 2):
            try:
                response = self.session.post(url, json=body, stream=True, timeout=(CONNECT_TIMEOUT, self.timeout))
                break
            except requests.ConnectionError as exc:
                # A kept-alive connection the server had already closed (reset, or closed without an
                # answer): send once more on a fresh one. A completion has no side effect to repeat.
                if attempt == 1 and "Connection aborted" in repr(exc):
                    continue
                raise connection_error(exc, self.url, self.name, self.timeout) from exc
            except requests.RequestException as exc:
                raise connection_error(exc, self.url, self.name, self.timeout) from exc
        if response.status_code >= 400:
            with response:
                raise http_error(response.status_code, _body_text(response), response.headers, self.name, self.model,
                                 url=self.url)
        return response

    def ended_early(self, seen_anything: bool) -> BackendUnavailable:
        """The error for a stream that ended before its final event."""
        if not seen_anything:
            return BackendUnavailable(
                f"The {self.name} server closed the stream without sending anything. It may have refused the "
                "request (for example a prompt longer than its context; see the server's log) or be overloaded.",
                backend=self.name,
            )
        return BackendUnavailable(
            f"The {self.name} stream ended before the completion finished; the text so far is kept.",
            backend=self.name,
        )

    def _lines(self, response: requests.Response) -> Iterator[str]:
        """The response's lines as they arrive. Once the first bytes are in, a silence longer than
        `idle_timeout` ends the stream (a server that froze mid-answer), keeping the text so far."""
        started = False

        def chunks() -> Iterator[bytes]:
            nonlocal started
            for chunk in response.iter_content(chunk_size=None):
                if not started:
                    started = True
                    _set_read_timeout(response, self.idle_timeout)
                yield chunk

        try:
            yield from split_lines(chunks())
        except requests.RequestException as exc:
            if started and _timed_out(exc):
                raise BackendUnavailable(
                    f"The {self.name} server sent no data for {self.idle_timeout:g} s mid-stream; the text so far "
                    "is kept. It may be overloaded or stuck: run again.", backend=self.name,
                ) from exc
            if _timed_out(exc):
                raise connection_error(requests.Timeout(str(exc)), self.url, self.name, self.timeout) from exc
            raise BackendUnavailable(
                f"The connection to {self.name} broke mid-stream ({type(exc).__name__}); the text so far is kept.",
                backend=self.name,
            ) from exc

    def get_json(self, path: str, timeout: float = 10.0) -> Any:
        """GET a small JSON document (model lists, server info)."""
        timeout = min(timeout, self.timeout)
        try:
            response = self.session.get(self.url + path, timeout=(CONNECT_TIMEOUT, timeout))
        except requests.RequestException as exc:
            raise connection_error(exc, self.url, self.name, timeout) from exc
        if response.status_code >= 400:
            raise http_error(response.status_code, response.text[:2000], response.headers, self.name, self.model,
                             url=self.url)
        return parse_json(response.text, self.name)


def _timed_out(exc: requests.RequestException) -> bool:
    """requests reports a read time-out inside a body as ConnectionError(ReadTimeoutError)."""
    return isinstance(exc, requests.Timeout) or any(isinstance(a, ReadTimeoutError | socket.timeout) for a in exc.args)


def _set_read_timeout(response: requests.Response, seconds: float) -> None:
    """Change the read time-out of a response's socket: requests sets one for the whole request,
    and the wait for the first byte deserves longer than a silence mid-stream."""
    raw = response.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is None:  # "Connection: close": http.client handed the socket over to the response
        sock = getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        sock.settimeout(seconds)


# --- pure helpers: URLs, backoff, errors, stream formats ------------------------------------------


def normalize_url(url: str, suffixes: Sequence[str], backend: str) -> str:
    """The base URL as users copy it: trailing slashes and known endpoint paths removed."""
    url = (url or "").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BackendRejected(
            f"{url or 'An empty URL'} is not an http(s) URL: give the server's address, "
            "e.g. http://localhost:8080.", backend=backend,
        )
    if parts.hostname == LEGACY_HF_HOST:
        raise BackendRejected(legacy_hf_message(url), backend=backend, status=410)
    for suffix in sorted(suffixes, key=len, reverse=True):
        if url.endswith(suffix):
            return url[: -len(suffix)].rstrip("/")
    return url


def legacy_hf_message(url: str) -> str:
    model = url.split("/models/", 1)[-1] if "/models/" in url else "MODEL"
    return (
        "api-inference.huggingface.co is gone (410: no longer supported). Use the Hugging Face router: "
        "pick 'Chat' with https://router.huggingface.co/v1 and the model name, or 'TGI / Hugging Face' with "
        f"https://router.huggingface.co/hf-inference/models/{model}, or a dedicated Inference Endpoint URL."
    )


def backoff(attempt: int, retry_after: float | None) -> float:
    """Seconds to wait before retry `attempt` (0-based): the server's hint if it gave one."""
    if retry_after is not None:
        return max(0.0, min(retry_after, MAX_WAIT))
    return min(0.5 * 2**attempt, 8.0)


def connection_error(exc: requests.RequestException, url: str, backend: str, timeout: float) -> BackendUnavailable:
    """A readable message for a request that got no HTTP answer."""
    host = urlsplit(url).netloc
    chain, cause = [], exc
    while cause is not None and len(chain) < 8:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    text = " ".join(f"{type(c).__name__} {c}" for c in chain)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        message = f"Could not connect to {host} within {CONNECT_TIMEOUT:.0f} s. Check the URL and your network."
    elif isinstance(exc, requests.Timeout):
        message = f"{host} did not answer within {timeout:.0f} s. The server may be overloaded; try again later."
    elif "NameResolution" in text or "Name or service not known" in text or "getaddrinfo" in text:
        message = f"Cannot find the host {urlsplit(url).hostname!r} (DNS lookup failed). Check the URL."
    elif "refused" in text.lower():
        message = f"Connection refused by {host}: is the server running, and on this port?"
    else:
        message = f"Cannot reach {host}: {type(exc).__name__}. Check the URL and that the server is up."
    return BackendUnavailable(message, backend=backend)


def error_detail(body: str) -> tuple[str, dict[str, Any]]:
    """The server's own message from any of the error shapes in use, and the parsed body."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:300], {}
    if not isinstance(data, dict):
        return str(data)[:300], {}
    error = data.get("error", data.get("detail", data.get("message", "")))
    if isinstance(error, dict):  # OpenAI, llama.cpp, new vLLM: {"error": {"message", "type", "code"}}
        error = error.get("message") or json.dumps(error)
    elif isinstance(error, list):  # FastAPI validation: {"detail": [{"loc", "msg"}]}
        error = "; ".join(str(e.get("msg", e)) if isinstance(e, dict) else str(e) for e in error)
    if not error and data.get("object") == "error":  # old vLLM: flat {"object": "error", "message"}
        error = data.get("message", "")
    return str(error)[:500], data


def _retry_after(headers: Any, data: dict[str, Any]) -> float | None:
    for value in (headers.get("Retry-After") if headers else None, data.get("estimated_time")):
        try:
            if value is not None:
                return float(value)
        except (TypeError, ValueError):
            continue
    return None


_CONTEXT_WORDS = ("context", "too long", "exceed", "max_input_tokens", "max_total_tokens", "`inputs` tokens")


def http_error(status: int, body: str, headers: Any, backend: str, model: str = "", url: str = "") -> BackendError:
    """Map an HTTP error answer to a FewShotError whose message says what to do."""
    detail, data = error_detail(body)
    said = f" The server said: {detail.rstrip('.')}." if detail else ""
    lowered = detail.lower()
    if status == 429:
        return BackendOverloaded(
            f"{backend} is rate-limiting or overloaded (429).{said}", backend=backend,
            retry_after=_retry_after(headers, data),
        )
    if status == 503:
        loading = "loading" in lowered or "estimated_time" in data
        what = f"The model {model or ''} is still loading" if loading else f"{backend} is unavailable"
        return BackendOverloaded(f"{what} (503).{said}".replace("  ", " "), backend=backend,
                                 retry_after=_retry_after(headers, data))
    if status in (401, 403):
        return BackendRejected(
            f"The token was refused or is missing ({status}): paste a valid token for this endpoint, or set "
            f"HF_TOKEN / OPENAI_API_KEY for their providers, or FEWSHOT_API_KEY with this host in FEWSHOT_API_HOSTS."
            f"{said}", backend=backend, status=status, detail=detail,
        )
    if status == 402:
        return BackendRejected(f"Payment required (402): this account's credits or plan do not cover the request."
                               f"{said}", backend=backend, status=402, detail=detail)
    if status == 404:
        what = f"the model {model!r} or the endpoint" if model else "the model or the endpoint"
        hint = f" If the model is not pulled yet, run `ollama pull {model or 'MODEL'}` on the server; otherwise " \
            "check the URL (e.g. http://host:11434)." if backend == "ollama" else \
            " Check the model name and the URL (the server's base URL, e.g. http://host:8080)."
        return BackendRejected(f"Not found (404): {what} does not exist.{hint}{said}",
                               backend=backend, status=404, detail=detail)
    if status == 410:
        message = legacy_hf_message(url) if "huggingface" in url else f"This endpoint is gone (410).{said}"
        return BackendRejected(message, backend=backend, status=410, detail=detail)
    if status == 413 or (status in (400, 422) and any(w in lowered for w in _CONTEXT_WORDS)):
        return BackendRejected(
            f"The prompt is too long for this model's context ({status}): remove examples or lower max new "
            f"tokens.{said}", backend=backend, status=status, detail=detail,
        )
    if status in (400, 422):
        return BackendRejected(f"The server refused the request ({status}).{said}", backend=backend,
                               status=status, detail=detail)
    return BackendUnavailable(f"{backend} failed with HTTP {status}.{said} Try again later.", backend=backend)


def parse_json(text: str, backend: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise BackendError(
            f"{backend} answered with something that is not JSON: {text.strip()[:120]!r}", backend=backend
        ) from None


def split_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Lines from a byte stream as it arrives; CRLF and LF both end a line, even split across chunks."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            yield line.removesuffix(b"\r").decode("utf-8", errors="replace")
    if buffer:
        yield buffer.removesuffix(b"\r").decode("utf-8", errors="replace")


def sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The `data` of each server-sent event (multi-line data joined by newlines); stops at [DONE].
    An `error:` field (llama.cpp's server reports stream errors that way) comes out as {"error": ...}."""
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:  # a blank line ends an event
            if data:
                payload = "\n".join(data)
                data = []
                if payload == "[DONE]":
                    return
                yield payload
            continue
        if line.startswith(":"):
            continue  # a comment / keep-alive
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "error":
            yield json.dumps({"error": _json_or_text(value)})
    if data and (payload := "\n".join(data)) != "[DONE]":
        yield payload


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def json_events(payloads: Iterable[str], backend: str) -> Iterator[dict[str, Any]]:
    """Parse each payload; an error event (`{"error": ...}`) raises BackendError with its message."""
    for payload in payloads:
        event = parse_json(payload, backend)
        if isinstance(event, dict) and (event.get("error") or event.get("object") == "error"):
            detail, _ = error_detail(payload)
            kind = event.get("error_type", "")
            raise BackendError(f"{backend} reported an error mid-stream{f' ({kind})' if kind else ''}: {detail}",
                               backend=backend)
        yield event


def _body_text(response: requests.Response) -> str:
    try:
        return response.content[:4000].decode("utf-8", errors="replace")
    except requests.RequestException:
        return ""
