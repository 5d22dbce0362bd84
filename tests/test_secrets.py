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


# --- a real UI session -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def secrets_app(tmp_path_factory):
    """The app of its own, so its log, saved presets and feedback folder hold only this session."""
    from tests.conftest import ARTIFACTS, serve_app

    presets_dir, flag_dir = tmp_path_factory.mktemp("secret_presets"), tmp_path_factory.mktemp("secret_flags")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for url in serve_app("secrets_app.log", presets_dir, FEWSHOT_FLAG_DIR=str(flag_dir)):
        yield url, presets_dir, flag_dir, ARTIFACTS / "secrets_app.log"


def test_a_token_used_in_a_browser_session_is_nowhere_afterwards(page, secrets_app, replay, tmp_path):
    import urllib.request

    from playwright.sync_api import expect

    from tests.test_browser import FINISHED, choose, open_app, open_section, set_text
    from tests.test_browser_share import code_text, copy_link, field

    url, presets_dir, flag_dir, log = secrets_app
    token = f"hf_planted_{secrets.token_hex(12)}"
    replay.reset()
    open_app(page, url)
    open_section(page, "Backends", "eA-url")
    choose(page, "eA-kind", "TGI / Hugging Face endpoint")
    set_text(page, "eA-url", replay.url)
    set_text(page, "eA-token", token)
    page.click("#eA-check")
    expect(page.locator("#eA-status")).to_contain_text("✓ answered", timeout=30_000)
    choose(page, "c1-backend", f"A: tgi {replay.url}")
    page.click("#run")
    expect(page.locator("#c1-status")).to_contain_text(FINISHED, timeout=60_000)
    page.click("#c1-good")  # a feedback record of the run that used the token
    expect(page.get_by_text("Saved your 👍 for column 2").first).to_be_visible()
    # The token really went to the endpoint, in its Authorization header (so its absence below means something).
    assert {r["authorization"] for r in replay.requests if r["method"] == "POST"} == {f"Bearer {token}"}

    open_section(page, "Save · share · code", "preset-name")
    set_text(page, "preset-name", "With a token")
    page.click("#save")
    expect(page.get_by_text("Saved “With a token”").first).to_be_visible()
    link = copy_link(page)
    page.click("#get-code")
    expect(page.locator("#code-python")).to_contain_text("def post(url, body, token_variable=None)")
    code = code_text(page, "code-python") + code_text(page, "code-curl")
    assert f"{replay.url}/generate" in code  # the code is for that endpoint
    with page.expect_download() as download:
        page.click("#export")
        page.locator("#export-file a").first.click()
    download.value.save_as(tmp_path / "exported.json")
    page.get_by_role("tab", name="Feedback").click()
    page.click("#feedback-refresh")
    expect(page.locator("#feedback-table")).to_contain_text("tgi")
    expect(field(page, "eA-token")).to_have_value(token)  # still in the page: the session really held it

    def served(path: str) -> str:
        with urllib.request.urlopen(url + path, timeout=10) as r:
            return r.read().decode()

    # Saved and unchanged, the page's link names the preset (?preset=); otherwise it carries the state.
    reopened = presets.decode_state(link.split("?state=")[1]).model_dump_json() if "?state=" in link else link
    places = {
        "link": link, "reopened link": reopened,
        "exported code": code, "exported preset": (tmp_path / "exported.json").read_text(),
        "page source (DOM)": page.content(), "page source (served)": served(""), "app config": served("config"),
        "log": log.read_text(),
    }
    for folder, what in ((presets_dir, "saved preset"), (flag_dir, "feedback or flagged file")):
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert files, f"no {what} was written"
        places |= {f"{what} {p.name}": p.read_text(errors="replace") for p in files}
    assert "With a token" in places["saved preset with-a-token.json"]
    for where, content in places.items():
        assert token not in content, f"the token is in the {where}"
