"""TGI, Hugging Face, Ollama and chat backends against a local server replaying their documented shapes
(tests/replay_server.py), including every fault a user can meet. The OpenAI-compatible backend runs
against a real llama_cpp.server in test_backend_openai.py; it is exercised here only for faults."""

import logging
import re
import threading
import time

import pytest

from fewshot import grid, presets
from fewshot.backends import BackendSpec, make_backend, remote_class
from fewshot.backends import http as http_layer
from fewshot.backends.base import generate
from fewshot.backends.tgi import TGIBackend
from fewshot.errors import BackendRejected
from fewshot.settings import GenerationSettings
from tests.conftest import free_port

PROMPT = presets.find("sentiment").prompt
GREEDY = GenerationSettings(temperature=0, max_new_tokens=8)
LONG = GenerationSettings(temperature=0.7, max_new_tokens=12, end_sequence=())
KINDS = ["tgi", "ollama", "chat", "openai"]


def backend(kind, url, **kw):
    return remote_class(kind)(url, **kw)


def last_request(replay, path_part):
    return next(r for r in reversed(replay.requests) if path_part in r["path"])


def test_tgi_streams_and_cuts_the_stop_string_it_keeps(replay):
    c = generate(backend("tgi", replay.url), PROMPT, GREEDY)
    assert (c.text, c.finish_reason, c.completion_tokens, c.model) == (" positive\n", "end_sequence", 3, "replay-model")
    body = last_request(replay, "/generate_stream")["body"]
    assert body["inputs"] == PROMPT.render()
    assert body["parameters"] == {"max_new_tokens": 8, "return_full_text": False, "details": True, "stop": ["###"],
                                  "do_sample": False}


def test_tgi_length_and_sampling_parameters(replay):
    c = generate(backend("tgi", replay.url), PROMPT, LONG.model_copy(update={"seed": 3, "top_p": 0.9}))
    assert c.finish_reason == "length" and c.text.startswith(" positive\n###\nTweet")
    params = last_request(replay, "/generate_stream")["body"]["parameters"]
    assert params["do_sample"] is True and params["temperature"] == 0.7 and params["seed"] == 3
    assert params["top_p"] == 0.9


def test_hugging_face_model_urls_take_the_request_themselves(replay):
    url = f"{replay.url}/hf-inference/models/EleutherAI/gpt-neo-2.7B"
    c = generate(make_backend(BackendSpec(kind="tgi", url=url)), PROMPT, GREEDY)
    assert c.text == " positive\n" and c.model == "EleutherAI/gpt-neo-2.7B"
    request = last_request(replay, "/hf-inference/models/")
    assert request["path"] == "/hf-inference/models/EleutherAI/gpt-neo-2.7B" and request["body"]["stream"] is True


def test_ollama_sends_a_raw_prompt_and_every_option(replay):
    c = generate(backend("ollama", replay.url, model="llama3.2"), PROMPT, GREEDY)
    assert (c.text, c.finish_reason, c.prompt_tokens) == (" positive\n", "stop", 12)
    body = last_request(replay, "/api/generate")["body"]
    assert body["raw"] is True and body["model"] == "llama3.2" and body["prompt"] == PROMPT.render()
    assert body["options"] == {"num_predict": 8, "temperature": 0.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0,
                               "repeat_penalty": 1.0, "seed": c.seed, "stop": ["###"], "num_ctx": 4096}


def test_ollama_picks_the_first_pulled_model_when_none_is_given(replay):
    c = generate(backend("ollama", replay.url), PROMPT, GREEDY)
    assert c.model == "replay:latest" and not c.error


def test_chat_sends_turns_and_streams_deltas(replay):
    c = generate(backend("chat", replay.url), PROMPT, LONG)
    assert c.text == "The sentiment is positive." and c.finish_reason == "stop" and c.model == "replay-model"
    body = last_request(replay, "/v1/chat/completions")["body"]
    assert body["messages"][0] == {"role": "system", "content": PROMPT.task}
    assert body["messages"][-1] == {"role": "user", "content": PROMPT.query}
    assert len(body["messages"]) == 2 + 2 * len(PROMPT.examples)


def test_openai_extras_follow_the_server_type(replay):
    s = GREEDY.model_copy(update={"top_k": 20, "repetition_penalty": 1.3})
    c = generate(backend("openai", replay.scenario("owned=vllm")), PROMPT, s)
    body = last_request(replay, "/v1/completions")["body"]
    assert body["top_k"] == 20 and body["repetition_penalty"] == 1.3 and c.note is None
    c = generate(backend("openai", replay.url), PROMPT, s)  # a server of unknown type
    body = last_request(replay, "/v1/completions")["body"]
    assert "top_k" not in body and "repetition_penalty" not in body
    assert c.note == "not sent to this server: top-k, repetition penalty"


@pytest.mark.parametrize(("kind", "text"), [("tgi", " positive\n"), ("openai", " positive\n"),
                                            ("ollama", " positive\n"), ("chat", "The sentiment is positive.")])
def test_a_server_that_answers_in_one_piece_is_understood(replay, kind, text):
    c = generate(backend(kind, replay.scenario("nostream"), model="m"), PROMPT, GREEDY)
    assert not c.error and c.text == text and c.finish_reason != "error"


def test_a_token_goes_in_the_authorization_header(replay):
    generate(backend("tgi", replay.url, token="hf_abc"), PROMPT, GREEDY)
    assert last_request(replay, "/generate_stream")["authorization"] == "Bearer hf_abc"


# --- faults: each ends its row with a clear message; text that arrived is kept ---------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ("status=401", "token was refused or is missing \\(401\\)"),
        ("status=403", "token was refused or is missing \\(403\\)"),
        ("status=402", "Payment required \\(402\\)"),
        ("status=404", "Not found \\(404\\)"),
        ("status=410", "endpoint is gone \\(410\\)"),
        ("context", "too long for this model's context"),
        ("status=422", "refused the request \\(422\\).*temperature. must be strictly positive"),
        ("status=500", "failed with HTTP 500"),
        ("malformed", "text/html instead of a stream|not JSON"),
    ],
)
def test_http_faults_give_clear_messages(replay, kind, scenario, message):
    c = generate(backend(kind, replay.scenario(scenario), model="m"), PROMPT, GREEDY)
    assert c.finish_reason == "error" and c.text == ""
    assert re.search(message, c.error), c.error


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("scenario", "message"), [("cut", "ended before the completion finished"),
                                                   ("errorevent", "error mid-stream.*CUDA out of memory")])
def test_a_broken_stream_keeps_the_text_so_far(replay, kind, scenario, message):
    c = generate(backend(kind, replay.scenario(scenario), model="m"), PROMPT, LONG)
    assert c.finish_reason == "error" and re.search(message, c.error)
    assert c.text and c.completion_tokens == 2


def test_ollama_404_says_to_pull(replay):
    c = generate(backend("ollama", replay.scenario("status=404"), model="llama3.2"), PROMPT, GREEDY)
    assert "ollama pull llama3.2" in c.error


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scenario", ["flaky429=2", "loading=1"])
def test_rate_limits_and_loading_recover_within_the_retry_budget(replay, kind, scenario):
    c = generate(backend(kind, replay.scenario(f"{scenario},{kind}"), model="m"), PROMPT, GREEDY)
    assert not c.error and c.text
    attempts = [r for r in replay.requests if r["scenario"] == f"{scenario},{kind}" and r["method"] == "POST"]
    assert len(attempts) == int(scenario.split("=")[1]) + 1


def test_rate_limits_that_persist_give_up_with_a_message(replay):
    c = generate(backend("tgi", replay.scenario("status=429"), max_retries=2), PROMPT, GREEDY)
    assert c.finish_reason == "error"
    assert "rate-limiting or overloaded (429)" in c.error and "Gave up after 3 tries" in c.error
    loading = generate(backend("tgi", replay.scenario("loading=99"), max_wait=0.15), PROMPT, GREEDY)
    assert "still loading (503)" in loading.error and "Gave up" in loading.error


def test_connection_refused_dns_failure_and_timeout():
    refused = generate(backend("tgi", f"http://127.0.0.1:{free_port()}"), PROMPT, GREEDY)
    assert "Connection refused" in refused.error and "is the server running" in refused.error
    dns = generate(backend("ollama", "http://no-such-host.invalid:11434", model="m"), PROMPT, GREEDY)
    assert "Cannot find the host 'no-such-host.invalid'" in dns.error


def test_a_server_that_never_answers_times_out(replay):
    c = generate(backend("tgi", replay.scenario("hang"), timeout=1), PROMPT, GREEDY)
    assert c.finish_reason == "error" and "did not answer within 1 s" in c.error


# --- many rows ---------------------------------------------------------------------------------------


def test_rows_run_concurrently_bounded_per_backend(replay):
    b = backend("tgi", replay.scenario("latency=300"), max_concurrency=8)
    replay.reset()
    finals = [c for _, c in b.generate_many([(PROMPT, GREEDY)] * 12) if c.done]
    assert len(finals) == 12 and all(c.text == " positive\n" for c in finals)
    assert replay.peak_in_flight == 8


def test_each_column_can_use_its_own_backend_and_a_failing_one_fails_alone(replay, local_backend):
    backends = {
        "": local_backend,
        "tgi": make_backend(BackendSpec(kind="tgi", url=replay.url)),
        "bad": make_backend(BackendSpec(kind="tgi", url=replay.scenario("status=401"))),
        "gone": BackendRejected("not an http(s) URL"),
    }
    cells = [grid.Cell(GREEDY, backend=k) for k in ("", "tgi", "bad", "gone", "tgi")]
    finals = {i: c for i, c in grid.run(backends, PROMPT, cells) if c.done}
    assert finals[0].backend == "embedded" and finals[0].text.strip() == "positive"
    assert finals[1].text == finals[4].text == " positive\n"
    assert "token was refused" in finals[2].error and "not an http(s) URL" in finals[3].error


def test_stop_ends_http_rows_and_keeps_their_text(replay):
    b = backend("tgi", replay.scenario("stall=3000"))  # two tokens, then the rows are still streaming
    cancel = threading.Event()
    seen = []
    for _, c in b.generate_many([(PROMPT, LONG)] * 3, cancel):
        seen.append(c)
        if c.text:
            cancel.set()
    finals = [c for c in seen if c.done]
    assert len(finals) == 3 and {c.finish_reason for c in finals} == {"cancelled"}
    assert " positive" in {c.text for c in finals} | {c.text[:9] for c in finals}


# --- what real servers do that a naive client gets wrong ---------------------------------------------


@pytest.mark.parametrize("kind", ["openai", "chat"])
def test_default_settings_pass_tgis_validation_on_its_openai_routes(replay, kind):
    """TGI refuses top_p = 1 (it wants 0 < top_p < 1); 1 is the default, so it is not sent."""
    c = generate(backend(kind, replay.scenario("tgiopenai"), model="m"), PROMPT, LONG)
    assert not c.error, c.error
    assert "top_p" not in last_request(replay, "/v1/")["body"]
    c = generate(backend(kind, replay.scenario("tgiopenai"), model="m"), PROMPT, LONG.model_copy(update={"top_p": 0.9}))
    assert not c.error and last_request(replay, "/v1/")["body"]["top_p"] == 0.9


def test_tgi_gets_parameters_it_accepts_for_every_setting(replay):
    b = backend("tgi", replay.url)
    for s in (GREEDY, LONG, LONG.model_copy(update={"top_p": 0.5, "top_k": 3, "repetition_penalty": 1.2}),
              GenerationSettings(end_sequence=("a", "b", "c", "d"))):
        c = generate(b, PROMPT, s)
        assert not c.error, (s, c.error)


def test_tgis_final_event_carries_the_last_token(replay):
    c = generate(backend("tgi", replay.url), PROMPT, LONG)
    assert c.text == " positive\n###\nTweet: I love this song\nSentiment" and c.finish_reason == "length"


def test_a_model_served_without_tgi_gets_a_plain_request(replay):
    url = replay.scenario("notgi") + "/hf-inference/models/distilgpt2"
    c = generate(backend("tgi", url), PROMPT, LONG.model_copy(update={"seed": 4}))
    assert not c.error and c.text.startswith(" positive")
    first, second = [r["body"] for r in replay.requests if r["scenario"] == "notgi"][-2:]
    assert "details" in first["parameters"] and first["stream"] is True
    assert set(second["parameters"]) == {"max_new_tokens", "temperature"} and "stream" not in second


def test_retry_after_is_honoured_without_a_stop_flag(replay):
    c = generate(backend("tgi", replay.scenario("slow429=1,wait")), PROMPT, GREEDY)
    assert not c.error
    first, second = [r for r in replay.requests if r["scenario"] == "slow429=1,wait" and r["method"] == "POST"]
    assert second["time"] - first["time"] >= 0.35  # the server asked for 0.4 s


@pytest.mark.parametrize("kind", ["openai", "chat"])
def test_sse_with_crlf_split_across_chunks_and_keep_alive_comments(replay, kind):
    c = generate(backend(kind, replay.scenario("crlf"), model="m"), PROMPT, GREEDY)
    assert not c.error, c.error
    assert c.text == (" positive\n" if kind == "openai" else "The sentiment is positive.")


@pytest.mark.parametrize(("scenario", "message"), [("llamaerror", "KV cache is full"), ("flaterror", "engine died")])
def test_server_specific_mid_stream_errors_are_read(replay, scenario, message):
    c = generate(backend("openai", replay.scenario(scenario), model="m"), PROMPT, LONG)
    assert c.finish_reason == "error" and message in c.error and c.text


def test_vllm_says_which_stop_ended_the_text(replay):
    c = generate(backend("openai", replay.scenario("owned=vllm"), model="m"), PROMPT, GREEDY)
    assert c.finish_reason == "end_sequence"


def test_a_server_type_probe_that_failed_is_tried_again(replay):
    b = backend("openai", replay.scenario("modelsdown=1"))
    generate(b, PROMPT, GREEDY)
    assert b._flavour is None  # not remembered: the server was still starting
    b._probe_failed = -1e9  # as if the retry interval had passed
    generate(b, PROMPT, GREEDY)
    assert b.flavour == "replay" and b.model == "replay-model"


def test_the_hugging_face_router_needs_a_model_name():
    c = generate(backend("chat", "https://router.huggingface.co/v1"), PROMPT, GREEDY)
    assert c.finish_reason == "error" and "give a model name" in c.error


def test_ollama_context_fits_the_prompt(replay):
    """Ollama silently drops the start of a prompt longer than num_ctx: it is sized from the prompt."""
    long = PROMPT.model_copy(update={"task": "x " * 9000})
    generate(backend("ollama", replay.url, model="m"), long, GREEDY)
    num_ctx = last_request(replay, "/api/generate")["body"]["options"]["num_ctx"]
    assert num_ctx == 8192 and num_ctx >= len(long.render()) // 3  # > 4096, a power of two


def test_stop_before_sending_sends_nothing(replay):
    b = backend("tgi", replay.scenario("latency=200"), max_concurrency=2)
    replay.reset()
    cancel = threading.Event()
    cancel.set()
    finals = [c for _, c in b.generate_many([(PROMPT, GREEDY)] * 6, cancel) if c.done]
    assert len(finals) == 6 and all(c.finish_reason == "cancelled" for c in finals)
    assert not [r for r in replay.requests if r["method"] == "POST"]


def test_stop_during_a_backoff_or_a_silent_server_ends_as_cancelled(replay):
    for url in (replay.scenario("status=429"), replay.scenario("hang")):
        b = backend("tgi", url, max_retries=50, max_wait=60)
        cancel = threading.Event()
        threading.Timer(0.5, cancel.set).start()
        finals = [c for _, c in b.generate_many([(PROMPT, GREEDY)] * 2, cancel) if c.done]
        assert [c.finish_reason for c in finals] == ["cancelled", "cancelled"]


def test_many_backends_share_one_bounded_thread_pool(replay):
    before = threading.active_count()
    for i in range(30):
        b = make_backend(BackendSpec(kind="tgi", url=replay.url), token=f"token-{i}")
        assert not generate(b, PROMPT, GREEDY).error
        list(b.generate_many([(PROMPT, GREEDY)] * 3))
    assert threading.active_count() - before <= 64


# --- faults under load: no starvation, no race, no hang ------------------------------------------------


def drain(stream, out: list) -> threading.Thread:
    """Consume a generate_many in a thread of its own, collecting each row's final completion."""
    thread = threading.Thread(target=lambda: out.extend(c for _, c in stream if c.done), daemon=True)
    thread.start()
    return thread


def wait_until(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


@pytest.fixture
def held(replay):
    """The replay server's `held` scenario, closed at the start and always opened at the end."""
    replay.reset()
    replay.release.clear()
    yield replay
    replay.release.set()


def test_a_64_row_sweep_on_a_one_at_a_time_endpoint_does_not_starve_other_callers(held):
    slow = backend("tgi", held.scenario("held"), max_concurrency=1)  # e.g. llama_cpp.server
    sweep, other = [], []
    sweeping = drain(slow.generate_many([(PROMPT, GREEDY)] * 64), sweep)
    wait_until(lambda: held.arrivals)  # the sweep's first row is at the server, which holds it
    drain(backend("tgi", held.url).generate_many([(PROMPT, GREEDY)] * 2), other).join(15)
    assert len(other) == 2 and all(c.text == " positive\n" for c in other), "another caller was starved"
    assert sweep == [] and held.arrivals == [1]  # meanwhile the sweep kept to its one request at a time
    held.release.set()
    sweeping.join(30)
    assert len(sweep) == 64 and not [c.error for c in sweep if c.error]
    assert held.arrivals == [1] * 64


@pytest.mark.parametrize("narrow", [lambda b: setattr(b, "_gate", threading.BoundedSemaphore(1)),  # openai.py's probe
                                    lambda b: b.set_concurrency(1)], ids=["gate-assigned", "set_concurrency"])
def test_narrowing_a_gate_while_rows_hold_it_never_lets_two_requests_in(held, narrow):
    b = backend("tgi", held.scenario("held"), max_concurrency=4)
    first, later = [], []
    threads = [drain(b.generate_many([(PROMPT, GREEDY)] * 3), first)]
    wait_until(lambda: len(held.arrivals) == 3)
    narrow(b)  # as when a probe finds llama_cpp.server, which takes one request at a time
    threads.append(drain(b.generate_many([(PROMPT, GREEDY)] * 3), later))
    time.sleep(0.5)  # room for a request that should not get in
    assert len(held.arrivals) == 3, "a new request got past the narrowed gate while the old rows held it"
    held.release.set()
    for thread in threads:
        thread.join(30)
    assert len(first) == len(later) == 3 and not [c.error for c in first + later if c.error]
    assert held.arrivals == [1, 2, 3, 1, 1, 1]  # after the change: one at a time


@pytest.mark.parametrize(("kind", "text"), [("tgi", " positive\n"), ("openai", " positive\n"),
                                            ("ollama", " positive\n"), ("chat", "The sentiment")])
def test_a_stream_that_goes_silent_ends_after_the_idle_time_with_the_text_so_far(replay, kind, text):
    b = backend(kind, replay.scenario("stall=5000"), model="m", idle_timeout=0.5)
    c = generate(b, PROMPT, LONG)
    assert c.finish_reason == "error" and "sent no data for 0.5 s" in c.error, c.error
    assert "broke" not in c.error and c.text == text and c.completion_tokens == 2
    assert 0 < http_layer.IDLE_TIMEOUT <= 30 and backend(kind, replay.url).idle_timeout == http_layer.IDLE_TIMEOUT


def test_the_idle_time_does_not_cut_a_server_that_is_slow_to_start(replay):
    """Before the first byte a server may be queueing the request: the longer answer time-out applies."""
    c = generate(backend("tgi", replay.scenario("latency=800"), idle_timeout=0.3, timeout=5), PROMPT, GREEDY)
    assert not c.error and c.text == " positive\n"


def fewshot_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("fewshot")]


def test_expected_failures_are_logged_as_one_line_without_a_traceback(replay, caplog):
    caplog.set_level(logging.INFO)
    backends = {"bad": make_backend(BackendSpec(kind="tgi", url=replay.scenario("status=401"))),
                "gone": BackendRejected("http//x is not an http(s) URL", backend="tgi")}
    finals = [c for _, c in grid.run(backends, PROMPT, [grid.Cell(GREEDY, backend=k) for k in ("bad", "gone")])
              if c.done]
    assert len(finals) == 2 and all(c.error for c in finals)
    records = fewshot_records(caplog)
    assert any("token was refused" in r.getMessage() for r in records), records
    assert any("not an http(s) URL" in r.getMessage() for r in records), records
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in records)
    assert "Traceback" not in caplog.text


def test_an_unexpected_failure_in_a_row_is_logged_with_its_traceback(replay, caplog):
    class Broken(TGIBackend):
        def request(self, prompt, settings, seed):
            raise RuntimeError("a bug in request()")

    caplog.set_level(logging.INFO)
    finals = [c for _, c in Broken(replay.url).generate_many([(PROMPT, GREEDY)] * 2) if c.done]
    assert [c.finish_reason for c in finals] == ["error", "error"] and "a bug in request()" in finals[0].error
    bugs = [r for r in fewshot_records(caplog) if r.exc_info]
    assert len(bugs) == 2 and "a bug in request()" in caplog.text and "Traceback" in caplog.text


def test_a_gate_used_as_a_semaphore_still_bounds_requests(held):
    """Code that takes `with backend._gate:` around a request of its own (e.g. scoring) shares the limit."""
    b = backend("tgi", held.scenario("held"), max_concurrency=1)
    rows = []
    drain(b.generate_many([(PROMPT, GREEDY)]), rows)
    wait_until(lambda: held.arrivals)
    entered = threading.Event()

    def own_request():
        with b._gate:
            entered.set()

    threading.Thread(target=own_request, daemon=True).start()
    assert not entered.wait(0.3) and b.gate.busy == 1  # waits while the row holds the only slot
    held.release.set()
    assert entered.wait(10)
    wait_until(lambda: b.gate.busy == 0)


# --- label scoring: prompt log-probabilities ---------------------------------------------------------

SCORED = "Review: good film\nSentiment:"


@pytest.mark.parametrize("kind", ["openai", "tgi"])
def test_label_scores_sum_the_label_tokens_of_the_documented_shapes(replay, kind):
    """" positive" is one replay word (-0.25), " very positive" two (-2.0 - 0.25); the prompt's own
    words (-1.0 each), the BOS (TGI) and the generated token (vLLM's echo) are left out."""
    url = replay.scenario("owned=vllm") if kind == "openai" else replay.url
    scores = backend(kind, url).score_many([(SCORED, " positive"), (SCORED, " negative"), (SCORED, " very positive")])
    assert scores == pytest.approx([-0.25, -1.5, -2.25])


def test_the_scoring_requests_are_the_documented_ones(replay):
    replay.reset()
    backend("openai", replay.scenario("owned=vllm")).score_many([(SCORED, " positive")])
    body = last_request(replay, "/v1/completions")["body"]
    assert body == {"model": "replay-model", "prompt": SCORED + " positive", "max_tokens": 1, "temperature": 0,
                    "echo": True, "logprobs": 1, "stream": False}
    backend("tgi", replay.url).score_many([(SCORED, " positive")])
    body = last_request(replay, "/generate")["body"]
    assert body == {"inputs": SCORED + " positive", "parameters": {
        "max_new_tokens": 1, "details": True, "decoder_input_details": True, "do_sample": False}}


def test_an_evaluation_grid_runs_on_a_remote_server_by_both_scoring_modes(replay):
    import pandas as pd

    from fewshot import evaluate

    rows = pd.DataFrame({"text": ["good", "bad", "fine", "awful"], "label": ["positive", "negative"] * 2})
    pool = pd.DataFrame({"text": ["nice", "poor"], "label": ["positive", "negative"]})
    result = evaluate.run_grid(backend("tgi", replay.url), PROMPT, pool, rows, ["positive", "negative"],
                               shots=[0, 2], calibrate=["none"], scoring=["labels", "generate"], draws=2)
    # The replay model prefers " positive" (-0.25 vs -1.5) and always answers " positive".
    assert [(c.shots, c.scoring, c.accuracy, c.draws) for c in result.cells] == [
        (0, "labels", 0.5, 1), (2, "labels", 0.5, 2), (0, "generate", 0.5, 1), (2, "generate", 0.5, 2)]
    assert {f.got for c in result.cells for f in c.failures} == {"positive"}


@pytest.mark.parametrize(("kind", "reason"), [
    ("chat", "chat endpoints return no log-probabilities"),
    ("ollama", "Ollama returns log-probabilities of generated tokens only"),
])
def test_backends_that_cannot_score_say_so_and_offer_generation(replay, kind, reason):
    from fewshot.backends.base import CannotScore, scorer_for

    with pytest.raises(CannotScore, match=f"cannot score labels by log-probability \\({reason}.*use scoring by "
                                          "generation instead"):
        scorer_for(backend(kind, replay.url))


def test_a_server_without_prompt_logprobs_is_a_clear_error(replay):
    from fewshot.errors import BackendError

    with pytest.raises(BackendError, match="no log-probabilities for the label's tokens"):
        backend("tgi", replay.url + "/models/some/model").score_many([(SCORED, " positive")])
