"""A local HTTP server that replays the documented request/response shapes of TGI, the Hugging Face
router (hf-inference), Ollama and OpenAI-style completions/chat (see ../shared/PROTOCOLS.md),
including their error bodies and broken streams. For the protocols that cannot run here.

The behaviour is chosen by a path prefix, so a backend's base URL selects it:

    http://127.0.0.1:PORT/                      a healthy server
    http://127.0.0.1:PORT/s/latency=300/        every answer starts after 300 ms
    http://127.0.0.1:PORT/s/status=401/         that error, in the protocol's own error shape
    http://127.0.0.1:PORT/s/flaky429=2/         429 with Retry-After to two POSTs, then healthy answers
    http://127.0.0.1:PORT/s/loading=1/          503 "model is currently loading" + estimated_time once
    http://127.0.0.1:PORT/s/hang/               never answers (the client times out)
    http://127.0.0.1:PORT/s/malformed/          200 with a body that is not JSON
    http://127.0.0.1:PORT/s/cut/                streams a few tokens, then closes without finishing
    http://127.0.0.1:PORT/s/errorevent/         streams a few tokens, then an error event
    http://127.0.0.1:PORT/s/context/            the protocol's "prompt too long" error
    http://127.0.0.1:PORT/s/owned=vllm/         /v1/models says owned_by=vllm, and streams name their stop_reason
    http://127.0.0.1:PORT/s/nostream/           answers in one JSON document even when asked to stream
    http://127.0.0.1:PORT/s/tgiopenai/          OpenAI routes with TGI's validation (top_p < 1, temperature > 0)
    http://127.0.0.1:PORT/s/notgi/              a model the Inference API serves without TGI (refuses TGI's fields)
    http://127.0.0.1:PORT/s/crlf/               CRLF line ends, keep-alive comments, one byte per chunk
    http://127.0.0.1:PORT/s/llamaerror/         llama.cpp server's mid-stream `error:` field
    http://127.0.0.1:PORT/s/flaterror/          old vLLM's flat {"object": "error"} mid-stream
    http://127.0.0.1:PORT/s/slow429=1/          429 with Retry-After: 0.4 to the first POST
    http://127.0.0.1:PORT/s/modelsdown=1/       the first GET /v1/models answers 503
    http://127.0.0.1:PORT/s/held/               every POST waits until the test sets `server.release`
    http://127.0.0.1:PORT/s/stall=5000/         streams two tokens, then sends nothing for 5 s and closes
    http://127.0.0.1:PORT/s/echo/               401 whose message repeats the Authorization header it got

Every native TGI request is checked as TGI checks it (422 for temperature <= 0, top_p outside (0, 1),
more than 4 stop strings).

Label scoring shapes: a non-streamed `/v1/completions` with `echo` and `logprobs` returns
`choices[0].logprobs` (tokens, token_logprobs with null first, text_offset) over the prompt plus the
generated token, as vLLM does; `/generate` with `decoder_input_details` returns `details.prefill`
(a BOS "<s>" with logprob null first), as TGI does. The prompt is split into words (each with its
leading whitespace); a word's log-probability is LOGPROBS[word], else -1.0.

The "model" answers every prompt with the same script, token by token, honouring max tokens and
stop strings the way each protocol does (TGI keeps the stop string; the others drop it).
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SCRIPT = [" positive", "\n", "###", "\n", "Tweet", ":", " I", " love", " this", " song", "\n", "Sentiment", ":",
          " positive", "\n", "###"]
CHAT_SCRIPT = ["The", " sentiment", " is", " positive", "."]
LOGPROBS = {" positive": -0.25, " negative": -1.5, " very": -2.0}


def words(text: str) -> list[str]:
    """The replay's tokenizer: words with their leading whitespace."""
    return re.findall(r"\s*\S+|\s+$", text)


def prompt_logprobs(text: str) -> list[tuple[str, int, float | None]]:
    """(token, text offset, log-probability) of each prompt token; the first has none."""
    out, at = [], 0
    for i, token in enumerate(words(text)):
        out.append((token, at, None if i == 0 else LOGPROBS.get(token, -1.0)))
        at += len(token)
    return out


class ReplayServer:
    """Start with `with ReplayServer() as server:`; `server.url` is the base, `server.requests` the log."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.counters: dict[str, int] = {}
        self.in_flight = 0
        self.peak_in_flight = 0
        self.release = threading.Event()  # opens the `held` scenario's gate
        self.arrivals: list[int] = []  # `held`: POSTs in flight as each one arrived (itself included)
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"replay": self})
        self.httpd = _Quiet(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ReplayServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def scenario(self, spec: str) -> str:
        return f"{self.url}/s/{spec}"

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.counters.clear()
            self.peak_in_flight = 0
            self.arrivals.clear()

    def count(self, key: str) -> int:
        """How many requests this scenario key has seen (before this one)."""
        with self.lock:
            n = self.counters.get(key, 0)
            self.counters[key] = n + 1
            return n


class _Quiet(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # clients that stop reading mid-stream (Stop, time-outs) are part of the tests


class _Handler(BaseHTTPRequestHandler):
    replay: ReplayServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    # --- routing -----------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else {}
        scenario, path = "", self.path
        if path.startswith("/s/"):
            scenario, _, rest = path[3:].partition("/")
            path = "/" + rest
        protocol = _protocol(path)
        r = self.replay
        with r.lock:
            r.requests.append({"method": method, "path": path, "scenario": scenario, "body": body,
                               "authorization": self.headers.get("Authorization"), "time": time.monotonic()})
        self._serve(method, path, protocol, scenario, body)

    def _serve(self, method: str, path: str, protocol: str, scenario: str, body: dict) -> None:
        name, _, value = scenario.partition("=")
        value = value.split(",")[0]  # "flaky429=2,tgi": a suffix keeps one test's counter its own
        if name == "latency":
            self._wait(int(value) / 1000, counted=method == "POST")
        if name == "hang":
            time.sleep(30)
            return
        if name == "held" and method == "POST":
            _held(self.replay)
        if name == "echo":  # a careless server that quotes the credentials back
            return self._json(401, {"error": f"Invalid credentials: {self.headers.get('Authorization')}"})
        if name == "status":
            return self._error(protocol, int(value))
        if name == "context":
            return self._error(protocol, 422 if protocol == "tgi" else 400, context=True)
        if name in ("flaky429", "loading", "slow429") and method == "POST" and self.replay.count(scenario) < int(value):
            retry_after = "0.4" if name == "slow429" else "0.1"
            return self._error(protocol, 503 if name == "loading" else 429, loading=name == "loading",
                               retry_after=retry_after)
        if name == "modelsdown" and method == "GET" and self.replay.count(scenario) < int(value):
            return self._json(503, {"error": {"message": "Loading model", "type": "unavailable_error"}})
        if name == "malformed":
            return self._send(200, b"<html>Bad gateway</html>", "text/html")
        if method == "GET":
            return self._get(path, value if name == "owned" else "")
        if problem := _tgi_validation(protocol, body, strict_openai=name == "tgiopenai"):
            return self._json(422, {"error": f"Input validation error: {problem}", "error_type": "validation"})
        if name == "notgi" and (unused := _unused_by_plain_models(body)):
            return self._json(400, {"error": f"The following `model_kwargs` are not used by the model: {unused} "
                                             "(note: typos in the generate arguments will also show up in this list)"})
        if name in ("nostream", "notgi") or not _streams(protocol, path, body):
            return self._json(200, self._whole(protocol, body, path))
        stream = self._stream_events(protocol, body, cut=name == "cut", error=name, vllm=value == "vllm")
        if name == "stall":
            stream = _stalled(stream, after=2, seconds=int(value) / 1000)
        content_type = "application/x-ndjson" if protocol == "ollama" else "text/event-stream"
        self._send_stream(stream, content_type, crlf=name == "crlf")

    def _wait(self, seconds: float, counted: bool) -> None:
        """Simulated latency. Completion requests waiting here at once measure the client's concurrency
        exactly: a client thread cannot send its next request before this one is answered."""
        r = self.replay
        with r.lock:
            r.in_flight += counted
            r.peak_in_flight = max(r.peak_in_flight, r.in_flight)
        time.sleep(seconds)
        with r.lock:
            r.in_flight -= counted

    def _get(self, path: str, owned: str) -> None:
        if path.startswith("/v1/models"):
            return self._json(200, {"object": "list", "data": [{"id": "replay-model", "object": "model",
                                                                "owned_by": owned or "replay"}]})
        if path.startswith("/api/tags"):
            return self._json(200, {"models": [{"name": "replay:latest"}]})
        if path.startswith("/info"):
            return self._json(200, {"model_id": "replay-model", "max_input_tokens": 4095, "max_total_tokens": 4096})
        return self._json(404, {"error": "Not Found"})

    # --- the protocols -----------------------------------------------------------------------

    def _stream_events(self, protocol: str, body: dict, cut: bool, error: str, vllm: bool):
        """(bytes to write) for each streamed event of this protocol."""
        settings = _settings(protocol, body)
        script = CHAT_SCRIPT if protocol == "chat" else SCRIPT
        tokens, reason = _generate(script, settings["max"], settings["stop"], keep_stop=protocol == "tgi")
        broken = {"errorevent": _event(protocol, {"error": "CUDA out of memory", "error_type": "generation"}),
                  "llamaerror": b'error: {"code": 500, "message": "KV cache is full", "type": "server_error"}\n\n',
                  "flaterror": b'data: {"object": "error", "message": "engine died", "type": "InternalServerError",'
                               b' "code": 500}\n\n'}
        last = len(tokens) - 1 if protocol == "tgi" else len(tokens)  # TGI's final event carries the last token
        for i, token in enumerate(tokens[:last]):
            if (cut or error in broken) and i == 2:
                if error in broken:
                    yield broken[error]
                return
            if error == "crlf" and i == 1:
                yield b": keep-alive\n\n"
            yield _event(protocol, _token_event(protocol, token, i))
        yield _event(protocol, _final_event(protocol, tokens, reason, vllm=vllm))
        if protocol in ("openai", "chat"):
            yield b"data: [DONE]\n\n"

    def _whole(self, protocol: str, body: dict, path: str) -> Any:
        """The answer to a request that does not stream."""
        settings = _settings(protocol, body)
        script = CHAT_SCRIPT if protocol == "chat" else SCRIPT
        tokens, reason = _generate(script, settings["max"], settings["stop"], keep_stop=protocol == "tgi")
        text, final = "".join(tokens), _final_event(protocol, tokens, reason)
        if protocol == "tgi":
            answer = {"generated_text": text, "details": final["details"]}
            if (body.get("parameters") or {}).get("decoder_input_details"):
                prefill = [{"id": 1, "text": "<s>", "logprob": None}]
                prefill += [{"id": 200 + i, "text": t, "logprob": lp if i else -3.0}
                            for i, (t, _, lp) in enumerate(prompt_logprobs(body["inputs"]))]
                answer["details"] = {**final["details"], "prefill": prefill}
            return [{"generated_text": text}] if "/models/" in path else answer  # hf-inference answers a list
        if protocol == "ollama":
            return {**final, "response": text}
        if protocol == "chat":
            choice = {"index": 0, "message": {"role": "assistant", "content": text},
                      "finish_reason": final["choices"][0]["finish_reason"]}
            return {"object": "chat.completion", "choices": [choice], "usage": final["usage"]}
        choice = {**final["choices"][0], "text": text}
        if body.get("echo") and body.get("logprobs") is not None:  # vLLM: the prompt's tokens, then the generated
            echoed = [*prompt_logprobs(body["prompt"]), *((t, len(body["prompt"]), -0.1) for t in tokens)]
            choice = {**choice, "text": body["prompt"] + text, "logprobs": {
                "tokens": [t for t, _, _ in echoed], "text_offset": [o for _, o, _ in echoed],
                "token_logprobs": [lp for _, _, lp in echoed], "top_logprobs": [None] * len(echoed)}}
        return {"object": "text_completion", "choices": [choice], "usage": final["usage"]}

    def _error(self, protocol: str, status: int, *, loading: bool = False, context: bool = False,
               retry_after: str = "0.1") -> None:
        headers = {}
        if status == 429:
            message = "Model is overloaded" if protocol == "tgi" else "Rate limit reached, retry later"
            headers["Retry-After"] = retry_after
        elif loading:
            message = "Model replay-model is currently loading"
        elif context:
            message = ("Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 "
                       "`inputs` tokens and 200 `max_new_tokens`"
                       if protocol == "tgi" else "This model's maximum context length is 2048 tokens")
        else:
            message = {401: "Invalid credentials in Authorization header", 403: "Forbidden",
                       404: "model 'replay' not found, try pulling it first", 410: "Gone",
                       422: "Input validation error: `temperature` must be strictly positive"}.get(status, "Error")
        if protocol == "tgi":
            payload: dict[str, Any] = {"error": message, "error_type": "overloaded" if status == 429 else "validation"}
            if loading:
                payload = {"error": message, "estimated_time": 0.1}
        elif protocol == "ollama":
            payload = {"error": message}
        elif status == 400 and not context:
            payload = {"object": "error", "message": message, "type": "BadRequestError", "code": 400}  # old vLLM
        else:
            code = "context_length_exceeded" if context else None
            payload = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
        self._json(status, payload, headers)

    # --- writing -------------------------------------------------------------------------------

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, events, content_type: str, crlf: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for data in events:
            # With crlf, lines end in CRLF and every byte is a chunk of its own, so CR and LF arrive apart.
            for piece in ([bytes([b]) for b in data.replace(b"\n", b"\r\n")] if crlf else [data]):
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True


def _protocol(path: str) -> str:
    if path.startswith("/v1/chat"):
        return "chat"
    if path.startswith("/v1/"):
        return "openai"
    if path.startswith("/api/"):
        return "ollama"
    return "tgi"  # /generate_stream, /generate, /models/{id} (hf-inference), /info


def _tgi_validation(protocol: str, body: dict, strict_openai: bool) -> str | None:
    """TGI's own checks (validation.rs): for native requests, and for its OpenAI routes when asked."""
    if protocol == "tgi":
        p = body.get("parameters") or {}
    elif strict_openai and protocol in ("openai", "chat"):
        p = {**body, "do_sample": body.get("temperature", 1) > 0}
    else:
        return None
    if "temperature" in p and p["temperature"] <= 0 and p.get("do_sample", True) and protocol == "tgi":
        return "`temperature` must be strictly positive"
    if "top_p" in p and not 0 < p["top_p"] < 1:
        return "`top_p` must be > 0.0 and < 1.0"
    if len(p.get("stop") or []) > 4:
        return "`stop` supports up to 4 stop sequences. Given: 5"
    return None


def _unused_by_plain_models(body: dict) -> list[str]:
    """The TGI-only fields a model served without TGI names in its 400 answer."""
    tgi_only = ("details", "stop", "seed", "do_sample", "return_full_text")
    return [k for k in tgi_only if k in (body.get("parameters") or {})]


def _streams(protocol: str, path: str, body: dict) -> bool:
    if protocol == "tgi":
        return path.startswith("/generate_stream") or bool(body.get("stream"))
    if protocol == "ollama":
        return body.get("stream", True)  # Ollama streams unless told not to
    return bool(body.get("stream"))


def _settings(protocol: str, body: dict) -> dict[str, Any]:
    if protocol == "tgi":
        p = body.get("parameters") or {}
        return {"max": p.get("max_new_tokens", 20), "stop": p.get("stop") or []}
    if protocol == "ollama":
        o = body.get("options") or {}
        return {"max": o.get("num_predict", 128), "stop": o.get("stop") or []}
    stop = body.get("stop") or []
    return {"max": body.get("max_tokens", 16), "stop": [stop] if isinstance(stop, str) else stop}


def _generate(script: list[str], max_tokens: int, stops: list[str], keep_stop: bool) -> tuple[list[str], str]:
    """The script's tokens up to max tokens or a stop string; (tokens, reason)."""
    out: list[str] = []
    for token in script[:max_tokens]:
        out.append(token)
        text = "".join(out)
        if any(s in text for s in stops):
            if not keep_stop:
                cut = min(text.find(s) for s in stops if s in text)
                out = [text[:cut]] if text[:cut] else []
            return out, "stop"
    return out, "length" if len(out) == max_tokens else "eos"


def _token_event(protocol: str, token: str, i: int) -> dict[str, Any]:
    if protocol == "tgi":
        return {"index": i, "token": {"id": 100 + i, "text": token, "logprob": -0.1, "special": False},
                "generated_text": None, "details": None}
    if protocol == "ollama":
        return {"model": "replay:latest", "response": token, "done": False}
    if protocol == "chat":
        return {"object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": token}, "finish_reason": None}]}
    return {"object": "text_completion", "choices": [{"index": 0, "text": token, "finish_reason": None}]}


def _final_event(protocol: str, tokens: list[str], reason: str, vllm: bool = False) -> dict[str, Any]:
    n = len(tokens)
    if protocol == "tgi":
        finish = {"stop": "stop_sequence", "length": "length", "eos": "eos_token"}[reason]
        # Like TGI: the last generated token comes with the details (EOS, when it ended there, is special).
        token = {"id": 2, "text": "</s>", "logprob": -0.1, "special": True} if reason == "eos" or not tokens else \
            {"id": 100 + n, "text": tokens[-1], "logprob": -0.1, "special": False}
        return {"index": n, "token": token, "generated_text": "".join(tokens),
                "details": {"finish_reason": finish, "generated_tokens": n, "seed": 1}}
    if protocol == "ollama":
        return {"model": "replay:latest", "response": "", "done": True,
                "done_reason": "length" if reason == "length" else "stop",
                "prompt_eval_count": 12, "eval_count": n, "eval_duration": 1000}
    finish = "length" if reason == "length" else "stop"
    usage = {"prompt_tokens": 12, "completion_tokens": n, "total_tokens": 12 + n}
    if protocol == "chat":
        return {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}], "usage": usage}
    choice = {"index": 0, "text": "", "finish_reason": finish}
    if vllm:  # vLLM names the stop string that ended the text (None for end of text)
        choice["stop_reason"] = "###" if reason == "stop" else None
    return {"choices": [choice], "usage": usage}


def _event(protocol: str, payload: dict[str, Any]) -> bytes:
    if protocol == "ollama":
        return json.dumps(payload).encode() + b"\n"
    if protocol == "tgi":
        return b"data:" + json.dumps(payload).encode() + b"\n\n"
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


# --- fault modes of the hardening tests --------------------------------------------------------------


def _held(r: ReplayServer) -> None:
    """Hold a POST until the test sets `r.release` (at most 30 s), counting the POSTs held at once:
    `r.arrivals` gets how many were in flight when this one arrived, itself included."""
    with r.lock:
        r.in_flight += 1
        r.peak_in_flight = max(r.peak_in_flight, r.in_flight)
        r.arrivals.append(r.in_flight)
    r.release.wait(30)
    with r.lock:
        r.in_flight -= 1


def _stalled(events, after: int, seconds: float):
    """The first `after` events, then silence for `seconds` with the connection open, then the end
    of the response without a final event (a server that froze mid-answer)."""
    for i, event in enumerate(events):
        if i == after:
            time.sleep(seconds)
            return
        yield event
