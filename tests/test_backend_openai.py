"""The OpenAI-compatible backend against a real llama_cpp.server serving the embedded model."""

import pytest

from fewshot import presets
from fewshot.backends import BackendSpec, make_backend
from fewshot.backends.base import generate
from fewshot.backends.chat import ChatBackend
from fewshot.backends.openai import OpenAIBackend
from fewshot.settings import GenerationSettings

GREEDY = GenerationSettings(temperature=0, max_new_tokens=24, end_sequence=())


@pytest.fixture(scope="module")
def server(llama_server):
    return OpenAIBackend(llama_server + "/v1")  # as users copy it, with /v1


@pytest.mark.parametrize("preset", ["sentiment", "translate-en-fr", "passage-qa"])
def test_greedy_output_equals_the_embedded_backend(server, local_backend, preset):
    prompt = presets.find(preset).prompt
    remote, local = generate(server, prompt, GREEDY), generate(local_backend, prompt, GREEDY)
    assert not remote.error
    assert remote.text == local.text
    assert remote.completion_tokens == local.completion_tokens == GREEDY.max_new_tokens
    assert remote.finish_reason == "length"


def test_the_server_type_is_detected_and_its_defaults_neutralised(server, llama_server):
    assert server.flavour == "me"  # llama_cpp.server's owned_by
    assert server.model  # taken from /v1/models when none is given
    _, body = server.request("x", GREEDY, 1)
    assert body["top_k"] == 0 and body["repeat_penalty"] == 1.0 and body["min_p"] == 0.0


def test_the_end_sequence_is_honoured_by_the_server(server):
    c = generate(server, presets.find("sentiment").prompt, GenerationSettings(temperature=0, max_new_tokens=16))
    assert c.text.strip() == "positive" and "###" not in c.text
    assert c.finish_reason == "stop"  # OpenAI's "stop": the server does not say which one


def test_streaming_snapshots_grow_to_the_final_text(server):
    snapshots = list(server.stream(presets.find("passage-qa").prompt, GREEDY))
    final = snapshots[-1]
    assert final.done and len(snapshots) > 3
    assert all(final.text.startswith(s.text) for s in snapshots)


def test_a_seeded_sample_repeats(server):
    hot = GenerationSettings(temperature=1.0, max_new_tokens=16, end_sequence=(), seed=42)
    prompt = presets.find("sentiment").prompt
    # The first call evaluates the prompt as one batch; later ones reuse the server's prompt cache and
    # evaluate only the last token. Serving the Q8_0 file, the first call's sample differs from the later
    # ones (seen here; likely batch vs single-token kernels differing in the last bits of the logits,
    # enough to flip a token at temperature 1), so compare calls made from the same cache state.
    generate(server, prompt, hot)
    first, second = generate(server, prompt, hot), generate(server, prompt, hot)
    assert not first.error and first.text == second.text


def test_a_prompt_longer_than_the_servers_context_is_explained(server):
    # Streaming, llama_cpp.server answers 200 and closes the stream at once; it logs the reason.
    c = generate(server, "word " * 2100, GREEDY)
    assert c.finish_reason == "error" and "closed the stream without sending anything" in c.error
    assert "longer than its context" in c.error


def test_rows_queue_for_a_server_that_takes_one_at_a_time(server):
    """llama_cpp.server interrupts a running stream when the next request arrives: send one at a time."""
    prompt = presets.find("sentiment").prompt
    rows = [(prompt, GREEDY.model_copy(update={"max_new_tokens": n})) for n in (4, 8, 12, 16)]
    finals = {i: c for i, c in server.generate_many(rows) if c.done}
    assert [finals[i].completion_tokens for i in range(4)] == [4, 8, 12, 16], [c.error for c in finals.values()]
    assert all(finals[i].text.startswith(finals[0].text) for i in range(4))


def test_chat_completions_on_the_same_server(llama_server):
    chat = ChatBackend(llama_server)
    c = generate(chat, presets.find("translate-en-fr").prompt, GenerationSettings(temperature=0, max_new_tokens=12,
                                                                                  end_sequence=()))
    assert not c.error and c.text.strip() and c.finish_reason in ("length", "stop")


def test_make_backend_shares_one_instance_per_spec(llama_server):
    spec = BackendSpec(kind="openai", url=llama_server)
    assert make_backend(spec) is make_backend(spec)
    assert make_backend(spec) is not make_backend(spec, token="t")


def test_llama_cpp_server_echo_logprobs_are_one_position_late_so_scoring_is_refused(server, llama_server,
                                                                                   local_backend):
    """Why llama_cpp.server's label scores disagreed with the embedded model's exact ones: for a model
    that adds no BOS token (SmolLM2), llama-cpp-python 0.3.36 gives each echoed token the
    probability of being the *next* token after itself. The value it reports for " positive" is
    exactly the embedded log P(" positive" | text + " positive"), and the true score sits in the
    previous token's top log-probabilities. So the backend refuses to score there."""
    import requests

    from fewshot.backends.base import CannotScore

    text, label = "Review: a great film\nSentiment:", " positive"
    assert local_backend.llm.metadata.get("tokenizer.ggml.add_bos_token", "false") != "true"
    answer = requests.post(llama_server + "/v1/completions", json={
        "prompt": text + label, "max_tokens": 1, "echo": True, "logprobs": 5, "temperature": 0}, timeout=120).json()
    logprobs = answer["choices"][0]["logprobs"]
    at = logprobs["text_offset"].index(len(text))
    assert logprobs["tokens"][at] == label
    exact = local_backend.score(text, [label])[0]
    reported = logprobs["token_logprobs"][at]
    assert abs(reported - exact) > 1.0  # measured: -6.97 vs -2.96
    assert reported == pytest.approx(local_backend.score(text + label, [label])[0], abs=1e-3)
    assert logprobs["top_logprobs"][at - 1][label] == pytest.approx(exact, abs=1e-3)
    with pytest.raises(CannotScore, match=r"llama_cpp\.server reports each echoed prompt token's log-probability "
                                          r"from the distribution after that token.*use scoring by generation"):
        server.score_many([(text, label)])


def test_generation_scoring_works_on_the_same_server(server):
    import pandas as pd

    from fewshot import evaluate

    rows = pd.DataFrame({"text": ["I loved every minute of it!", "Worst film I have ever seen."],
                         "label": ["positive", "negative"]})
    pool = evaluate.pool_of(presets.find("sentiment").prompt.examples)
    result = evaluate.run_grid(server, presets.find("sentiment").prompt, pool, rows, ["positive", "negative",
                               "neutral"], shots=[4], calibrate=["none"], scoring=["generate"], draws=1)
    cell = result.cell(4, "none", "generate")
    assert cell.n == 2 and cell.accuracy == 1.0, cell.failures
