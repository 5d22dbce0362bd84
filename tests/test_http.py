"""The HTTP layer's pure parts: stream formats, error mapping, URLs, request shapes."""

import re

import pytest

from fewshot.backends import BackendSpec, make_backend, tgi, token_for
from fewshot.backends.http import backoff, error_detail, http_error, json_events, normalize_url, sse_data
from fewshot.backends.openai import finish_reason, sampling_extras
from fewshot.errors import BackendError, BackendOverloaded, BackendRejected, BackendUnavailable
from fewshot.prompt import Example, FewShotPrompt
from fewshot.settings import GenerationSettings


def test_sse_data_joins_multiline_events_skips_comments_and_stops_at_done():
    lines = [": keep-alive", "data: {\"a\": 1}", "", "data:{\"b\":", "data: 2}", "", "event: x", "data: [DONE]", "",
             "data: after"]
    assert list(sse_data(lines)) == ['{"a": 1}', '{"b":\n2}']


def test_sse_data_yields_a_last_event_without_a_blank_line():
    assert list(sse_data(["data: 1"])) == ["1"]


def test_json_events_raise_on_an_error_event():
    events = json_events(['{"token": 1}', '{"error": "Request failed during generation", "error_type": "generation"}'],
                         "tgi")
    assert next(events) == {"token": 1}
    with pytest.raises(BackendError, match=r"tgi reported an error mid-stream \(generation\): Request failed"):
        next(events)
    with pytest.raises(BackendError, match="not JSON"):
        list(json_events(["<html>"], "tgi"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"error": {"message": "bad token", "type": "auth", "code": 401}}', "bad token"),  # OpenAI, llama.cpp
        ('{"object": "error", "message": "old vllm", "type": "BadRequestError"}', "old vllm"),  # old vLLM
        ('{"error": "Model is overloaded", "error_type": "overloaded"}', "Model is overloaded"),  # TGI
        ('{"detail": [{"loc": ["body"], "msg": "field required"}]}', "field required"),  # FastAPI
        ("Bad Gateway", "Bad Gateway"),
    ],
)
def test_error_detail_reads_every_error_shape(body, message):
    assert error_detail(body)[0] == message


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (401, '{"error": "Invalid token"}', BackendRejected, "token was refused"),
        (403, "{}", BackendRejected, "token was refused"),
        (404, '{"error": "model not found"}', BackendRejected, "Not found"),
        (410, "Gone", BackendRejected, "endpoint is gone \\(410\\)"),
        (402, '{"error": "You have exceeded your monthly included credits"}', BackendRejected,
         "Payment required \\(402\\).*credits"),
        (413, "", BackendRejected, "too long for this model's context"),
        (400, '{"error": {"message": "exceed_context_size_error"}}', BackendRejected, "too long"),
        (400, '{"error": {"code": "context_length_exceeded", "message": "maximum context length is 2048"}}',
         BackendRejected, "too long"),
        (422, '{"error": "Input validation error: `top_p` must be > 0.0 and < 1.0"}', BackendRejected,
         "refused the request \\(422\\).*top_p"),
        (429, '{"error": "Model is overloaded"}', BackendOverloaded, "rate-limiting or overloaded"),
        (503, '{"error": "Model gpt2 is currently loading", "estimated_time": 20.0}', BackendOverloaded,
         "still loading"),
        (500, "boom", BackendUnavailable, "HTTP 500"),
    ],
)
def test_http_errors_map_to_messages_that_say_what_to_do(status, body, kind, message):
    error = http_error(status, body, {}, "tgi", "gpt2")
    assert isinstance(error, kind)
    assert re.search(message, str(error)), str(error)


def test_a_410_from_hugging_face_explains_the_router():
    error = http_error(410, "Gone", {}, "tgi", url="https://api-inference.huggingface.co/models/gpt2")
    assert "router.huggingface.co" in str(error) and "hf-inference/models/gpt2" in str(error)


def test_retry_after_comes_from_the_header_or_estimated_time():
    assert http_error(429, "{}", {"Retry-After": "7"}, "x").retry_after == 7
    assert http_error(503, '{"error": "loading", "estimated_time": 20.0}', {}, "x").retry_after == 20
    assert backoff(0, None) == 0.5 and backoff(3, None) == 4.0 and backoff(0, 2.5) == 2.5


def test_ollama_404_says_to_pull_the_model():
    assert "ollama pull llama3.2" in str(http_error(404, '{"error": "not found"}', {}, "ollama", "llama3.2"))


@pytest.mark.parametrize(
    ("url", "suffixes", "base"),
    [
        ("http://h:8000/v1", ("/v1/completions", "/v1"), "http://h:8000"),
        ("http://h:8000/v1/completions/", ("/v1/completions", "/v1"), "http://h:8000"),
        ("http://h:8080/generate_stream", ("/generate_stream", "/generate"), "http://h:8080"),
        ("https://router.huggingface.co/hf-inference/models/gpt2", (),
         "https://router.huggingface.co/hf-inference/models/gpt2"),
    ],
)
def test_urls_are_taken_as_users_copy_them(url, suffixes, base):
    assert normalize_url(url, suffixes, "x") == base


def test_the_legacy_inference_api_is_explained_not_called():
    with pytest.raises(BackendRejected, match=r"api-inference\.huggingface\.co is gone.*router\.huggingface\.co"):
        normalize_url("https://api-inference.huggingface.co/models/EleutherAI/gpt-neo-2.7B", (), "tgi")
    with pytest.raises(BackendRejected, match="not an http"):
        normalize_url("localhost:8080", (), "tgi")


def test_tgi_parameters_pass_its_validation():
    greedy = tgi.parameters(GenerationSettings(temperature=0, top_p=1.0), seed=5)
    assert greedy["do_sample"] is False and "temperature" not in greedy and "top_p" not in greedy
    assert "seed" not in greedy and greedy["return_full_text"] is False and greedy["stop"] == ["###"]
    hot = tgi.parameters(GenerationSettings(temperature=0.7, top_p=0.9, top_k=40, repetition_penalty=1.2), seed=5)
    assert hot == {"max_new_tokens": 32, "return_full_text": False, "details": True, "stop": ["###"],
                   "do_sample": True, "temperature": 0.7, "seed": 5, "top_p": 0.9, "top_k": 40,
                   "repetition_penalty": 1.2}
    assert "top_p" not in tgi.parameters(GenerationSettings(top_p=1.0), 1)  # TGI wants top_p < 1
    assert "stop" not in tgi.parameters(GenerationSettings(end_sequence=()), 1)


def test_openai_extras_only_where_the_server_takes_them():
    s = GenerationSettings(top_k=40, repetition_penalty=1.2)
    assert sampling_extras("me", s) == {"top_k": 40, "repeat_penalty": 1.2, "min_p": 0.0}
    assert sampling_extras("llamacpp", GenerationSettings()) == {"top_k": 0, "repeat_penalty": 1.0, "min_p": 0.0}
    assert sampling_extras("vllm", s) == {"top_k": 40, "repetition_penalty": 1.2}
    assert sampling_extras("vllm", GenerationSettings()) == {}
    assert sampling_extras("openai", s) == {}


def test_openai_finish_reasons():
    assert finish_reason("length") == "length"
    assert finish_reason("stop") == "stop"  # llama.cpp, OpenAI: end sequence or end of text, unsaid
    assert finish_reason("stop", "###") == "end_sequence"  # vLLM names the stop string
    assert finish_reason("stop", None) == "end_of_text"


def test_chat_turns_and_raw_text_refusal():
    backend = make_backend(BackendSpec(kind="chat", url="http://127.0.0.1:9", model="m"))
    backend._flavour = "openai"  # skip probing a server that is not there
    prompt = FewShotPrompt(task="Translate.", examples=(Example(input="cat", output="chat"),), query="dog")
    path, body = backend.request(prompt, GenerationSettings(end_sequence=()), 1)
    assert path == "/v1/chat/completions" and "stop" not in body
    assert body["messages"] == [
        {"role": "system", "content": "Translate."}, {"role": "user", "content": "cat"},
        {"role": "assistant", "content": "chat"}, {"role": "user", "content": "dog"},
    ]
    with pytest.raises(Exception, match="turn raw mode off"):
        backend.request("raw text", GenerationSettings(), 1)


def test_env_tokens_go_only_where_their_owner_sends_them(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk_secret")
    monkeypatch.setenv("FEWSHOT_API_KEY", "own")
    monkeypatch.delenv("FEWSHOT_API_HOSTS", raising=False)
    assert token_for("https://router.huggingface.co/v1") == "hf_secret"
    assert token_for("https://api.openai.com/v1") == "sk_secret"
    # Spaces and Inference Endpoints run anyone's code: no environment token goes there.
    assert token_for("https://evil.hf.space") is None
    assert token_for("https://x.us-east-1.aws.endpoints.huggingface.cloud") is None
    assert token_for("https://evilhuggingface.co") is None
    assert token_for("http://my-vllm:8000") is None  # FEWSHOT_API_KEY only to listed hosts
    monkeypatch.setenv("FEWSHOT_API_HOSTS", "my-vllm, .endpoints.huggingface.cloud")
    assert token_for("http://my-vllm:8000") == "own"
    assert token_for("https://x.us-east-1.aws.endpoints.huggingface.cloud") == "own"
    assert token_for("http://other:8000") is None
    assert token_for("http://other:8000", "pasted") == "pasted"  # a pasted token goes to its own column's URL


def test_other_model_files_are_off_on_a_space(monkeypatch):
    monkeypatch.setenv("SPACE_ID", "someone/space")
    with pytest.raises(BackendRejected, match="turned off on this Space"):
        make_backend(BackendSpec(kind="local", model="/etc/passwd"))
