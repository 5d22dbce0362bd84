"""Exported code runs: Python against a real llama_cpp.server and the replay server; curl lines parse."""

import os
import shlex
import subprocess
import sys

import pytest

from fewshot import codegen, presets
from fewshot.backends import BackendSpec
from fewshot.backends.base import generate
from fewshot.settings import GenerationSettings

PROMPT = presets.find("sentiment").prompt
GREEDY = GenerationSettings(temperature=0, max_new_tokens=16, end_sequence=())


def run_snippet(code: str, tmp_path, **env) -> list[str]:
    script = tmp_path / "snippet.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_exported_python_reproduces_the_embedded_greedy_completion(tmp_path, local_backend, llama_server):
    call = codegen.call("Column 1", PROMPT, GREEDY, BackendSpec(model=str(local_backend.path)))
    code = codegen.python_snippet([call])
    assert f"--model {local_backend.path}" in code
    printed = run_snippet(code, tmp_path, FEWSHOT_URL=llama_server)
    assert printed == generate(local_backend, PROMPT, GREEDY).text + "\n"


@pytest.mark.parametrize(
    ("kind", "path", "expected"),
    [("tgi", "", " positive\n"), ("ollama", "", " positive\n"), ("chat", "/v1", "The sentiment is positive."),
     ("openai", "/v1", " positive\n")],
)
def test_exported_python_runs_for_every_protocol(tmp_path, replay, kind, path, expected):
    settings = GenerationSettings(temperature=0.7, max_new_tokens=8, seed=3)
    call = codegen.call("Column", PROMPT, settings, BackendSpec(kind=kind, url=replay.url + path, model="replay"))
    printed = run_snippet(codegen.python_snippet([call]), tmp_path)
    assert printed == expected + "\n"
    sent = replay.requests[-1]["body"]
    assert sent.get("stream") in (None, False)


def test_several_columns_share_one_prompt_literal():
    calls = [codegen.call(f"Column {i}", PROMPT, GenerationSettings(temperature=t), BackendSpec(model="m.gguf"))
             for i, t in enumerate((0.1, 0.5, 0.9), start=1)]
    code = codegen.python_snippet(calls)
    compile(code, "snippet", "exec")
    assert code.count("Tweet: I hate it when my phone battery dies.") == 1
    assert code.count("'prompt': PROMPT") == 3 and "'temperature': 0.9" in code


def test_two_model_files_get_a_server_each():
    calls = [codegen.call("a", PROMPT, GREEDY, BackendSpec(model="/m/a.gguf"), port=8000),
             codegen.call("b", PROMPT, GREEDY, BackendSpec(model="/m/b.gguf"), port=8001)]
    code = codegen.python_snippet(calls)
    assert "--model /m/a.gguf --port 8000" in code and "--model /m/b.gguf --port 8001" in code
    assert 'post(EMBEDDED + "/v1/completions", body)' in code
    assert 'post("http://localhost:8001/v1/completions", body)' in code
    assert "http://localhost:8001/v1/completions" in codegen.curl_lines(calls)


def test_tokens_are_read_from_the_environment_never_written(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_SECRET_VALUE")
    calls = [codegen.call("HF", PROMPT, GREEDY, BackendSpec(kind="chat", url="https://router.huggingface.co/v1",
                                                            model="m")),
             codegen.call("own", PROMPT, GREEDY, BackendSpec(kind="tgi", url="http://my-tgi:8080"))]
    code, curl = codegen.python_snippet(calls), codegen.curl_lines(calls)
    assert "hf_SECRET_VALUE" not in code + curl
    assert '"HF_TOKEN"' in code and "$HF_TOKEN" in curl and "$FEWSHOT_API_KEY" in curl


def test_curl_lines_are_valid_shell():
    calls = [codegen.call("Q&A with 'quotes'", PROMPT.model_copy(update={"query": "it's \"fine\" $HOME"}), GREEDY,
                          BackendSpec(kind="tgi", url="http://localhost:8080"))]
    line = codegen.curl_lines(calls).splitlines()[1]
    words = shlex.split(line)
    assert words[:3] == ["curl", "-s", "http://localhost:8080/generate"]
    assert "it's \\\"fine\\\" $HOME" in words[-1]  # the JSON body, intact, not expanded by the shell
