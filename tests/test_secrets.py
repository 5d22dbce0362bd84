"""A token planted for a remote backend (the replay server) and used in a real run appears in no
preset, share link, exported code, completion or log line — not even when the server quotes it back."""

import json
import logging
import secrets

import pytest

from fewshot import codegen, grid, presets
from fewshot.backends import BackendSpec, make_backend
from fewshot.errors import ConfigError
from fewshot.settings import GenerationSettings

PROMPT = presets.find("sentiment").prompt
GREEDY = GenerationSettings(temperature=0, max_new_tokens=8)


@pytest.fixture
def planted(monkeypatch):
    """Two tokens: one pasted for endpoint A, one from the environment for endpoint B's host."""
    pasted, env = f"hf_pasted_{secrets.token_hex(8)}", f"sk_env_{secrets.token_hex(8)}"
    monkeypatch.setenv("FEWSHOT_API_KEY", env)
    monkeypatch.setenv("FEWSHOT_API_HOSTS", "127.0.0.1")
    return pasted, env


def test_a_planted_token_leaves_no_trace_outside_its_own_requests(replay, planted, caplog, tmp_path):
    pasted, env = planted
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's request lines included
    specs = {"A": BackendSpec(kind="tgi", url=replay.url), "B": BackendSpec(kind="openai", url=replay.url),
             "C": BackendSpec(kind="tgi", url=replay.scenario("echo"))}
    backends = {"A": make_backend(specs["A"], pasted), "B": make_backend(specs["B"]),
                "C": make_backend(specs["C"], pasted)}
    replay.reset()
    cells = [grid.Cell(GREEDY, backend=k) for k in ("A", "B", "C")]
    finals = [c for _, c in grid.run(backends, PROMPT, cells) if c.done]
    # The tokens were really used: each went, and only went, to its own endpoint's requests.
    sent = {r["authorization"] for r in replay.requests if r["method"] == "POST"}
    assert sent == {f"Bearer {pasted}", f"Bearer {env}"}
    assert len(finals) == 3 and not finals[0].error and not finals[1].error
    assert "token was refused" in finals[2].error and "Invalid credentials" in finals[2].error  # quoted, redacted
    assert caplog.records  # the log was captured (so its silence about the tokens means something)

    state = presets.Preset(name="With endpoints", task=PROMPT.task, examples=PROMPT.examples, query=PROMPT.query,
                           columns=tuple(presets.Column(backend=k) for k in specs), endpoints=specs)
    link = presets.encode_state(state)
    store = presets.Store(tmp_path / "mine")
    store.save("With endpoints", state)
    calls = [codegen.call(k, PROMPT, GREEDY, spec) for k, spec in specs.items()]
    code = codegen.python_snippet(calls) + codegen.curl_lines(calls)
    assert "FEWSHOT_API_KEY" in code  # the code reads the token from the environment
    places = {"completions": repr(finals), "log": caplog.text, "preset": presets.to_json(state), "link": link,
              "saved preset": "".join(p.read_text() for p in store.folder.iterdir()), "code": code,
              "reopened link": repr(presets.decode_state(link))}
    for where, content in places.items():
        for token in (pasted, env):
            assert token not in content, f"the token is in the {where}"


def test_a_token_slipped_into_a_preset_or_link_is_refused_without_repeating_it(planted):
    pasted, _ = planted
    data = {"name": "x", "endpoints": {"A": {"kind": "tgi", "url": "http://127.0.0.1:1", "token": pasted}}}
    for attempt in (lambda: presets.parse_preset(json.dumps(data)),
                    lambda: presets.decode_state(link_of(json.dumps(data).encode()))):
        with pytest.raises(ConfigError, match=r"unknown field 'endpoints\.A\.token'") as refused:
            attempt()
        assert pasted not in str(refused.value)


def link_of(data: bytes) -> str:
    import base64
    import zlib

    return presets.LINK_VERSION + base64.urlsafe_b64encode(zlib.compress(data, 9)).decode().rstrip("=")
