"""The batched engine on the real model, checked against single `Llama.create_completion` calls."""

import threading

import numpy as np
import pytest

from fewshot import presets
from fewshot.backends.local import LocalBackend, load_engine
from fewshot.engine import Engine, Request
from fewshot.errors import BackendError, PromptError
from fewshot.settings import GenerationSettings


@pytest.fixture(scope="module")
def backend():
    return LocalBackend()


@pytest.fixture(scope="module")
def reference(backend):
    """A second, independent model: the single-call results the engine must reproduce."""
    from llama_cpp import Llama

    return Llama(model_path=str(backend.path), n_ctx=2048, n_threads=backend.n_threads, verbose=False)


def single_call(llm, prompt: str, s: GenerationSettings, seed: int) -> str:
    llm.reset()  # a fresh evaluation of the whole prompt, as a first call would do
    out = llm.create_completion(
        prompt, max_tokens=s.max_new_tokens, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k, min_p=0.0,
        typical_p=1.0, repeat_penalty=s.repetition_penalty, seed=seed,
    )
    return out["choices"][0]["text"]


def run(backend, rows, cancel=None):
    finals = {}
    for i, c in backend.generate_many(rows, cancel):
        assert i not in finals, "a row went on after its final snapshot"
        if c.done:
            finals[i] = c
    return [finals[i] for i in range(len(rows))]


PROMPTS = {name: presets.find(name).prompt.render() for name in ("sentiment", "translate-en-fr", "passage-qa")}
GREEDY = GenerationSettings(temperature=0, max_new_tokens=24, end_sequence=())


def test_greedy_rows_are_token_identical_to_single_calls(backend, reference):
    # Different lengths, so rows finish at different steps and the survivors get moved.
    rows = [(PROMPTS["sentiment"], GREEDY.model_copy(update={"max_new_tokens": n})) for n in (5, 24, 12, 1, 17)]
    rows += [(PROMPTS["passage-qa"], GREEDY), (PROMPTS["translate-en-fr"], GREEDY)]
    for (prompt, s), c in zip(rows, run(backend, rows), strict=True):
        assert c.text == single_call(reference, prompt, s, 0)
        assert c.completion_tokens == s.max_new_tokens and c.finish_reason == "length"


@pytest.mark.parametrize(
    "settings",
    [
        GenerationSettings(temperature=0.8, max_new_tokens=24, end_sequence=(), seed=7),
        GenerationSettings(temperature=1.3, top_p=0.9, top_k=40, max_new_tokens=24, end_sequence=(), seed=123),
        GenerationSettings(temperature=0.7, repetition_penalty=1.3, max_new_tokens=24, end_sequence=(), seed=99),
    ],
)
def test_a_seeded_row_reproduces_the_single_call_text(backend, reference, settings):
    rows = [(PROMPTS["sentiment"], settings), (PROMPTS["sentiment"], GREEDY)]
    c = run(backend, rows)[0]
    assert c.text == single_call(reference, PROMPTS["sentiment"], settings, settings.seed)
    assert c.seed == settings.seed


def test_rerunning_with_new_settings_evaluates_no_prompt_token(backend):
    engine = backend.engine
    prompt = PROMPTS["sentiment"]
    run(backend, [(prompt, GREEDY)])
    before = engine.evaluated
    hot = [(prompt, GenerationSettings(temperature=t, max_new_tokens=8)) for t in (0.3, 0.6, 0.9)]
    assert all(c.done and not c.error for c in run(backend, hot))
    assert engine.evaluated == before


def test_changing_only_the_query_evaluates_only_the_querys_tokens(backend):
    engine = backend.engine
    p = presets.find("sentiment").prompt
    run(backend, [(p.render(), GREEDY)])
    changed = p.model_copy(update={"query": "The service was slow and the food was cold"}).render()
    before = engine.evaluated
    run(backend, [(changed, GREEDY)])
    query_tokens = len(backend.tokenize("The service was slow and the food was cold\nSentiment:"))
    assert 0 < engine.evaluated - before <= query_tokens + 1


def test_a_shots_sweep_matches_single_calls_and_shares_the_prefix(backend, reference):
    p = presets.find("sentiment").prompt
    rows = [(p.with_shots(k).render(), GREEDY.model_copy(update={"max_new_tokens": 6})) for k in (0, 1, 2, 4)]
    engine = backend.engine
    before = engine.evaluated
    finals = run(backend, rows)
    for (prompt, s), c in zip(rows, finals, strict=True):
        assert c.text == single_call(reference, prompt, s, 0)
    separate = sum(len(backend.tokenize(prompt)) for prompt, _ in rows)
    assert engine.evaluated - before < separate


def test_more_rows_than_sequences_run_in_waves(backend, reference):
    rows = [(PROMPTS["translate-en-fr"], GREEDY.model_copy(update={"max_new_tokens": 3 + i})) for i in range(11)]
    for (prompt, s), c in zip(rows, run(backend, rows), strict=True):
        assert c.text == single_call(reference, prompt, s, 0)


def test_concurrent_callers_get_their_own_results(backend):
    jobs = {
        "a": [(PROMPTS["sentiment"], GREEDY), (PROMPTS["sentiment"], GREEDY.model_copy(update={"max_new_tokens": 9}))],
        "b": [(PROMPTS["passage-qa"], GREEDY)] * 3,
        "c": [(PROMPTS["translate-en-fr"], GREEDY.model_copy(update={"max_new_tokens": 30}))],
    }
    alone = {k: [c.text for c in run(backend, rows)] for k, rows in jobs.items()}
    together, errors = {}, []

    def work(key):
        try:
            together[key] = [c.text for c in run(backend, jobs[key])]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in jobs for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and together == alone


def test_cancel_finishes_rows_as_stopped_and_the_engine_goes_on(backend):
    cancel = threading.Event()
    long = GenerationSettings(temperature=0.9, max_new_tokens=400, end_sequence=())
    rows = [(PROMPTS["sentiment"], long)] * 3
    seen = []
    for i, c in backend.generate_many(rows, cancel):
        seen.append((i, c))
        if c.completion_tokens >= 5:
            cancel.set()
    finals = [c for _, c in seen if c.done]
    assert len(finals) == 3 and all(c.finish_reason == "cancelled" for c in finals)
    assert all(c.completion_tokens < 400 for c in finals)
    assert run(backend, [(PROMPTS["sentiment"], GREEDY)])[0].finish_reason == "length"


def test_abandoning_the_stream_frees_the_rows(backend):
    stream = backend.generate_many([(PROMPTS["sentiment"], GenerationSettings(max_new_tokens=400, end_sequence=()))])
    next(stream)
    stream.close()
    assert run(backend, [(PROMPTS["translate-en-fr"], GREEDY)])[0].done


def test_label_scores_equal_log_probabilities_from_a_full_evaluation(backend):
    from llama_cpp import Llama

    reference = Llama(model_path=str(backend.path), n_ctx=512, logits_all=True, verbose=False)
    prompt = PROMPTS["sentiment"]
    labels = [" positive", " negative", " neutral", " not sure at all"]
    scores = backend.score(prompt, labels)
    prompt_tokens = backend.tokenize(prompt)
    for label, score in zip(labels, scores, strict=True):
        continuation = backend.tokenize(prompt + label)[len(prompt_tokens):]
        reference.reset()
        reference.eval(prompt_tokens + continuation)
        expected = 0.0
        for k, token in enumerate(continuation):
            logits = np.array(reference.scores[len(prompt_tokens) - 1 + k], dtype=np.float64)
            expected += logits[token] - logits.max() - np.log(np.exp(logits - logits.max()).sum())
        assert score == pytest.approx(expected, abs=1e-3)
    assert scores[0] == max(scores)  # the greedy answer is "positive"


def test_rows_that_do_not_fit_fail_alone(backend):
    long = "word " * 2100
    finals = run(backend, [(long, GREEDY), (PROMPTS["sentiment"], GREEDY)])
    assert finals[0].finish_reason == "error" and "context holds" in finals[0].error
    assert finals[1].finish_reason == "length" and finals[1].text


def test_the_context_grows_for_a_long_prompt_and_shrinks_back(backend):
    engine: Engine = load_engine(backend.path, backend.n_threads, backend.n_ctx)
    long = PROMPTS["passage-qa"] * 9
    assert 1024 < len(backend.tokenize(long)) + GREEDY.max_new_tokens <= 2048
    assert run(backend, [(long, GREEDY)])[0].finish_reason == "length"
    assert engine.seq_len == 2048
    run(backend, [(PROMPTS["translate-en-fr"], GREEDY)])  # 9 x 2048 cells is over the KV budget: give it back
    assert engine.seq_len == engine.kept_len < 2048


def test_engine_refuses_a_row_longer_than_its_context(backend):
    engine = backend.engine
    with pytest.raises(Exception, match="context holds"):
        list(engine.generate([Request([1] * 3000, GREEDY)]))


def test_an_empty_prompt_fails_its_row_and_nothing_hangs(backend):
    finals = run(backend, [("", GREEDY), (PROMPTS["sentiment"], GREEDY)])
    assert finals[0].finish_reason == "error" and "prompt is empty" in finals[0].error
    assert finals[1].finish_reason == "length"
    with pytest.raises(PromptError, match="non-empty label"):
        backend.score(PROMPTS["sentiment"], [""])
    with pytest.raises(PromptError, match="prompt is empty"):
        list(backend.engine.generate([Request([], GREEDY)]))


def test_a_second_job_shares_its_own_prompt_while_another_runs(backend):
    """Rows arriving while others decode copy the first of their own job to evaluate the prompt,
    instead of each evaluating the whole prompt again."""
    engine = backend.engine
    busy = GenerationSettings(temperature=0.9, max_new_tokens=200, end_sequence=(), seed=1)
    other = presets.find("passage-qa").prompt.render()
    stream = backend.generate_many([(other, busy)])
    next(stream)  # the first job is decoding
    prompt = PROMPTS["sentiment"]
    before = engine.evaluated
    finals = run(backend, [(prompt, GREEDY.model_copy(update={"max_new_tokens": 4}))] * 4)
    stream.close()
    assert all(c.finish_reason == "length" for c in finals)
    assert engine.evaluated - before < 2 * len(backend.tokenize(prompt))  # not 4 times


SAMPLED = GenerationSettings(temperature=0.7, max_new_tokens=24, end_sequence=(), seed=5)


def count_chains(monkeypatch):
    import fewshot.engine as engine_module

    made, freed = [], []
    real_chain, real_free = engine_module._sampler_chain, engine_module.C.llama_sampler_free
    monkeypatch.setattr(engine_module, "_sampler_chain", lambda *a: made.append(1) or real_chain(*a))
    monkeypatch.setattr(engine_module.C, "llama_sampler_free", lambda c: freed.append(1) or real_free(c))
    return made, freed


def test_every_sampler_chain_is_freed(backend, monkeypatch):
    run(backend, [(PROMPTS["translate-en-fr"], GREEDY)])  # rows left by earlier tests are gone now
    made, freed = count_chains(monkeypatch)
    run(backend, [(PROMPTS["sentiment"], SAMPLED.model_copy(update={"max_new_tokens": 1}))] * 5)  # done at admission
    cancel = threading.Event()
    cancel.set()
    run(backend, [(PROMPTS["sentiment"], SAMPLED)] * 12, cancel)  # dropped while waiting
    run(backend, [(PROMPTS["translate-en-fr"], SAMPLED)] * 3)
    run(backend, [(PROMPTS["translate-en-fr"], GREEDY)] * 3)  # greedy rows take the argmax: no chain at all
    assert len(made) == len(freed) and 8 <= len(made) <= 20


def own_engine(backend, **options):
    from llama_cpp import Llama

    llm = Llama(model_path=str(backend.path), n_ctx=256, n_threads=backend.n_threads, verbose=False)
    return llm, Engine(llm, n_threads=backend.n_threads, **options)


def test_a_row_refused_while_closing_leaves_no_sampler_chain(backend, monkeypatch):
    llm, engine = own_engine(backend)
    made, freed = count_chains(monkeypatch)
    tokens = backend.tokenize(PROMPTS["sentiment"])
    assert engine.close() is True
    with pytest.raises(BackendError, match="shutting down"):
        list(engine.generate([Request(tokens, SAMPLED, 1)] * 3))
    assert len(made) == len(freed)
    llm.close()


class WorkerKilled(BaseException):
    """Escapes the step's `except Exception`, as a fault inside the worker's own handler would."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_when_the_worker_dies_every_caller_gets_an_error_and_the_next_call_works(backend, monkeypatch):
    llm, engine = own_engine(backend)
    tokens = backend.tokenize(PROMPTS["sentiment"])
    real_step, calls = engine._step, []

    def dying_step():
        calls.append(1)
        if len(calls) == 3:
            raise WorkerKilled()
        real_step()

    monkeypatch.setattr(engine, "_step", dying_step)
    results, errors = {}, []

    def call(key, requests):
        try:
            results[key] = [c for _, c in engine.generate(requests) if c.done]
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(k, [Request(tokens, SAMPLED, k)] * 2), daemon=True)
               for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a caller is still waiting for a dead worker"
    assert not errors and sorted(results) == [0, 1, 2]
    finals = [c for cs in results.values() for c in cs]
    assert len(finals) == 6 and all(c.finish_reason == "error" and "worker stopped" in c.error for c in finals)
    monkeypatch.setattr(engine, "_step", real_step)
    again = [c for _, c in engine.generate([Request(tokens, GREEDY)]) if c.done]
    assert again[0].finish_reason == "length" and again[0].text
    score = engine.score([(tokens, backend.tokenize(PROMPTS["sentiment"] + " positive")[len(tokens):])])
    assert score[0] < 0
    assert engine.close() is True
    llm.close()


def test_a_scoring_error_stops_the_other_rows_of_its_call(backend, monkeypatch):
    llm, engine = own_engine(backend)
    labels = [" not sure at all", " very positive indeed", " rather negative overall"]
    pairs = []
    for i in range(8):
        prompt = backend.tokenize(f"Review {i}: " + PROMPTS["sentiment"])
        pairs += [(prompt, backend.tokenize(f"Review {i}: " + PROMPTS["sentiment"] + label)[len(prompt):])
                  for label in labels]
    real, scored = engine._add_logprob, []

    def failing(row, logprob, pos):
        scored.append(row.index)
        if len(scored) == 1:  # the first label token of the first row fails it
            return engine._finish(row, "error", "injected failure")
        real(row, logprob, pos)

    monkeypatch.setattr(engine, "_add_logprob", failing)
    with pytest.raises(BackendError, match="injected failure"):
        engine.score(pairs)
    for _ in range(200):  # the worker drops the call's rows at its next step
        if not engine.waiting and not engine._active():
            break
        threading.Event().wait(0.05)
    assert not engine.waiting and not engine._active()
    assert len(set(scored)) < len(pairs) // 2  # today's code scores all 24 pairs for nobody
    assert engine.close() is True
    llm.close()


def test_alternating_long_and_short_prompts_keep_one_context(backend):
    llm, engine = own_engine(backend, max_seq_len=2048)
    short = backend.tokenize(PROMPTS["translate-en-fr"])
    long = backend.tokenize(PROMPTS["passage-qa"] * 4)
    assert 512 < len(long) + GREEDY.max_new_tokens <= 1024
    for tokens in (short, long, short, long, short):
        assert next(c for _, c in engine.generate([Request(tokens, GREEDY)]) if c.done).finish_reason == "length"
    assert engine.seq_len == 1024 and engine.contexts == 2  # 512 at first, 1024 once: never back and forth
    engine.close()
    llm.close()


def test_a_row_needing_a_larger_context_starts_while_others_decode(backend, reference):
    """The context grows between steps with the running rows' KV cells carried over: the long row
    does not wait for the short rows to finish, and every row still matches its single call."""
    llm, engine = own_engine(backend, max_seq_len=2048)
    short = PROMPTS["translate-en-fr"]
    long = PROMPTS["passage-qa"] * 4
    slow = GREEDY.model_copy(update={"max_new_tokens": 60})
    first = engine.generate([Request(backend.tokenize(short), slow)] * 2)
    texts: dict = {}
    next(first)
    assert engine.seq_len == 512
    second = engine.generate([Request(backend.tokenize(long), GREEDY)])
    grown_while_busy = None
    for _, c in second:
        if grown_while_busy is None:
            grown_while_busy = bool(engine._active()) and engine.seq_len == 1024 and any(
                r.job is not None and r.request.settings is slow for r in engine._active())
        if c.done:
            texts["long"] = c.text
    for i, c in first:
        if c.done:
            texts[i] = c.text
    assert grown_while_busy, "the long row waited for the short rows to drain"
    assert texts["long"] == single_call(reference, long, GREEDY, 0)
    assert texts[0] == texts[1] == single_call(reference, short, slow, 0)
    engine.close()
    llm.close()


def test_decode_steps_and_prompt_steps_use_their_own_thread_counts(backend, monkeypatch):
    import fewshot.engine as engine_module

    llm, engine = own_engine(backend, n_threads_batch=2)
    engine.n_threads = 1
    seen = []
    real = engine_module.C.llama_set_n_threads
    monkeypatch.setattr(engine_module.C, "llama_set_n_threads", lambda ctx, a, b: seen.append(a) or real(ctx, a, b))
    tokens = backend.tokenize(PROMPTS["sentiment"])
    list(engine.generate([Request(tokens, GREEDY)] * 3))
    assert seen[:2] == [2, 1]  # the prompt on two threads, then the decode steps on one
    engine.close()
    llm.close()


def test_closing_a_busy_engine_stops_it_cleanly(backend):
    from llama_cpp import Llama

    from fewshot.engine import Engine

    llm = Llama(model_path=str(backend.path), n_ctx=256, n_threads=backend.n_threads, verbose=False)
    engine = Engine(llm, n_threads=backend.n_threads, max_seq_len=1024)
    tokens = backend.tokenize(PROMPTS["sentiment"])
    stream = engine.generate([Request(tokens, GenerationSettings(max_new_tokens=500, end_sequence=()), 1)] * 4)
    next(stream)
    assert engine.close() is True
    finals = [c for _, c in stream if c.done]
    assert len(finals) == 4 and all(c.finish_reason == "cancelled" for c in finals)
    with pytest.raises(BackendError, match="shutting down"):
        list(engine.generate([Request(tokens, GREEDY)]))
    llm.close()
