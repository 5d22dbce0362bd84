"""The embedded backend on the real SmolLM2-135M model."""

import threading

import pytest

from fewshot import presets
from fewshot.backends.base import generate
from fewshot.backends.local import LocalBackend
from fewshot.errors import BackendUnavailable, ConfigError, PromptError
from fewshot.settings import GenerationSettings

GREEDY = GenerationSettings(temperature=0, max_new_tokens=12, end_sequence=("###",))


@pytest.fixture(scope="module")
def sentiment():
    return presets.find("sentiment").prompt.render()


def test_greedy_output_is_deterministic(local_backend, sentiment):
    first = generate(local_backend, sentiment, GREEDY)
    second = generate(local_backend, sentiment, GREEDY)
    assert first.text == second.text
    assert first.text.strip()


def test_the_end_sequence_is_honoured_and_trimmed(local_backend, sentiment):
    c = generate(local_backend, sentiment, GREEDY)
    assert c.finish_reason == "end_sequence"
    assert "###" not in c.text
    assert c.text.strip() in {"positive", "negative", "neutral"}
    # Without the end sequence the same model runs on into the next example.
    longer = generate(local_backend, sentiment, GREEDY.model_copy(update={"end_sequence": ()}))
    assert longer.text.startswith(c.text) and "###" in longer.text
    assert longer.finish_reason == "length" and longer.completion_tokens == GREEDY.max_new_tokens


def test_streaming_text_equals_the_blocking_text(local_backend, sentiment):
    settings = GREEDY.model_copy(update={"max_new_tokens": 24, "end_sequence": ()})
    snapshots = list(local_backend.stream(sentiment, settings))
    final = snapshots[-1]
    assert final.done and not any(s.done for s in snapshots[:-1])
    assert all(final.text.startswith(s.text) for s in snapshots)
    assert len(snapshots) > 3
    assert final.text == generate(local_backend, sentiment, settings).text


def test_a_fixed_seed_reproduces_a_sampled_completion(local_backend, sentiment):
    hot = GenerationSettings(temperature=1.2, max_new_tokens=16, end_sequence=(), seed=1234)
    a, b = generate(local_backend, sentiment, hot), generate(local_backend, sentiment, hot)
    assert a.text == b.text and a.seed == 1234


def test_a_prompt_longer_than_the_context_is_refused_with_the_numbers(local_backend):
    text = "word " * 3000
    message = r"The prompt is \d+ tokens; with max new tokens 12 it needs \d+, but the model's context holds 2048"
    with pytest.raises(PromptError, match=message):
        local_backend.check_fits(text, GREEDY)
    c = generate(local_backend, text, GREEDY)
    assert c.finish_reason == "error" and "context holds 2048" in c.error and c.completion_tokens == 0


def test_concurrent_callers_share_the_model_safely(local_backend, sentiment):
    settings = GREEDY.model_copy(update={"end_sequence": ()})
    expected = generate(local_backend, sentiment, settings).text
    results = []
    def work():
        results.append(generate(local_backend, sentiment, settings).text)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 3


def test_a_missing_or_invalid_model_file_gives_a_clear_message(tmp_path):
    with pytest.raises(BackendUnavailable, match=r"Model file not found: .*nothing\.gguf\. Set FEWSHOT_MODEL"):
        LocalBackend(tmp_path / "nothing.gguf").count_tokens("x")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(BackendUnavailable, match=r"Could not load bad\.gguf: it is not a GGUF model"):
        LocalBackend(bad).count_tokens("x")


def test_threads_default_to_every_core(monkeypatch):
    monkeypatch.delenv("FEWSHOT_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert LocalBackend().n_threads == 2


def test_the_default_model_runs_converted_weights_from_the_user_cache(local_backend, tmp_path):
    from fewshot.backends.local import WEIGHTS, default_model_path

    shipped = default_model_path()
    assert local_backend.source == shipped and local_backend.path != shipped
    assert local_backend.path.is_file() and shipped.parent not in local_backend.path.parents
    assert local_backend.model_file == local_backend.path.name and WEIGHTS in local_backend.model_file
    assert WEIGHTS in local_backend.model_label and shipped.name in local_backend.model_label


def test_a_cache_that_cannot_be_written_falls_back_to_the_shipped_file(monkeypatch, tmp_path, caplog):
    import fewshot.backends.local as local

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")  # mkdir fails as on a read-only disk
    monkeypatch.setenv("FEWSHOT_CACHE_DIR", str(blocked / "fewshot"))
    monkeypatch.setattr(local, "_converted", {})
    with caplog.at_level("WARNING", logger=local.__name__):
        backend = LocalBackend(weights="Q4_0")
        assert backend.path == backend.source
    assert len(caplog.records) == 1 and "as shipped" in caplog.records[0].getMessage()
    assert backend.model_label == backend.source.name
    assert backend.count_tokens("hello") > 0  # and it runs


def test_a_chosen_model_file_runs_as_given_unless_asked(monkeypatch, tmp_path):
    import fewshot.backends.local as local

    shipped = local.default_model_path()
    monkeypatch.setenv("FEWSHOT_MODEL", str(shipped))
    monkeypatch.setenv("FEWSHOT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(local, "_converted", {})
    assert LocalBackend().path == shipped
    assert LocalBackend(shipped).path == shipped
    monkeypatch.setenv("FEWSHOT_WEIGHTS", "Q4_0")  # the opt-in
    converted = LocalBackend().path
    assert converted.parent == tmp_path and converted.name.startswith(shipped.stem) and "Q4_0" in converted.name
    assert LocalBackend().path == converted and len(list(tmp_path.iterdir())) == 1  # converted once


def test_threads_come_from_fewshot_threads(monkeypatch):
    monkeypatch.setenv("FEWSHOT_THREADS", "1,2")
    b = LocalBackend()
    assert (b.n_threads, b.n_threads_batch) == (1, 2)
    monkeypatch.setenv("FEWSHOT_THREADS", "1")
    assert (LocalBackend().n_threads, LocalBackend().n_threads_batch) == (1, 1)
    monkeypatch.setenv("FEWSHOT_THREADS", "many")
    with pytest.raises(ConfigError, match="FEWSHOT_THREADS='many'"):
        LocalBackend()
    monkeypatch.delenv("FEWSHOT_THREADS")
    monkeypatch.setenv("FEWSHOT_WEIGHTS", "Q5_K")
    with pytest.raises(ConfigError, match="not a format"):
        _ = LocalBackend().path
