"""Untrusted text stays text, in a real headless Chromium: crafted links, presets (saved and imported),
examples and completions (HTML, <script>, Markdown images and links, javascript: URLs) make no element,
no request that leaves 127.0.0.1 or asks for a path the app does not serve, and no dialog.

The completions are the replay server's (tests/replay_server.py, OpenAI-compatible), its script
swapped for crafted tokens while a test runs. Every crafted URL carries "pwn-" (and every script
alert('pwn')), so any element, attribute or request built from one is found by that mark."""

import itertools
import json
import urllib.parse

import pytest
from playwright.sync_api import expect

from fewshot import presets
from fewshot.backends import BackendSpec
from fewshot.prompt import Example
from tests import replay_server
from tests.conftest import ARTIFACTS, serve_app
from tests.test_browser import open_app, open_section, set_text

IMG = '<img src="/pwn-img.png" onerror="alert(\'pwn\')">'
SCRIPT = "<script>alert('pwn')</script>"
MD_IMAGE = "![pwn-alt](http://evil.example/pwn-md.png)"
MD_LINK = "[Click here to sign in again](javascript:alert('pwn'))"
HTML_LINK = '<a href="http://evil.example/pwn-link">Click here</a>'
JS_LINK = '<a href="javascript:alert(\'pwn\')">pwn-js</a>'
HOSTILE = [IMG, SCRIPT, MD_IMAGE, MD_LINK, HTML_LINK, JS_LINK]

# Elements, attributes and text that would show a crafted string became markup.
FOUND_MARKUP = """() => {
  const found = [];
  const urls = ["src", "href", "srcdoc", "data", "action", "formaction", "xlink:href", "poster", "background"];
  for (const el of document.querySelectorAll("*")) {
    for (const a of el.attributes) {
      const hit = /pwn-|evil\\.example|alert\\(/.test(a.value);
      if ((a.name.startsWith("on") && hit) || (urls.includes(a.name) && (hit || /^\\s*javascript:/i.test(a.value)))) {
        found.push(el.outerHTML.slice(0, 160));
      }
    }
    const active = ["SCRIPT", "STYLE", "IFRAME", "OBJECT", "EMBED"];
    if (active.includes(el.tagName) && /alert\\('pwn'\\)/.test(el.outerHTML)) {
      found.push(el.outerHTML.slice(0, 160));
    }
  }
  return found;
}"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app of its own (its saved presets and feedback in temporary folders)."""
    yield from serve_app("untrusted_app.log", tmp_path_factory.mktemp("untrusted_presets"),
                         FEWSHOT_FLAG_DIR=str(tmp_path_factory.mktemp("untrusted_flags")))


@pytest.fixture
def watched(page, app):
    """The page with every request, response and dialog watched: a request for another origin is recorded
    and refused (nothing leaves the machine); a 404 means a path the app does not serve was asked for."""
    origin = app.rstrip("/")
    seen = {"outside": [], "missing": [], "dialogs": []}

    def route(r):
        url = r.request.url
        if url == origin or url.startswith(origin + "/") or url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            seen["outside"].append(url)
            r.abort()

    page.route("**/*", route)
    page.on("response", lambda response: response.status == 404 and seen["missing"].append(response.url))
    page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
    yield page, seen
    page.unroute("**/*")


def assert_stays_text(page, seen) -> None:
    page.wait_for_timeout(500)  # a request an element would make has time to start
    assert page.evaluate(FOUND_MARKUP) == []
    assert seen["outside"] == [], "a request left 127.0.0.1"
    assert seen["missing"] == [], "a request asked for a path the app does not serve"
    assert seen["dialogs"] == []


def toast(page, start: str):
    return page.locator('[data-testid="toast-text"]', has_text=start).first


def test_a_crafted_preset_link_shows_its_name_as_text(watched, app):
    page, seen = watched
    crafted = ('<a href="http://evil.example/pwn-a">Click here to sign in again</a>'
               '<img src="http://evil.example/pwn-b.png">' + MD_IMAGE)
    open_app(page, app + "?preset=" + urllib.parse.quote(crafted))
    message = toast(page, "This link was not opened")
    expect(message).to_be_visible(timeout=20_000)
    expect(message).to_contain_text(crafted)  # every character, as typed
    assert_stays_text(page, seen)


def test_a_crafted_state_link_fills_the_fields_as_text(watched, app):
    page, seen = watched
    state = presets.Preset(name=IMG, description=SCRIPT, task=" ".join(HOSTILE),
                           examples=tuple(Example(input=a, output=b) for a, b in itertools.pairwise(HOSTILE)),
                           query=MD_LINK)
    open_app(page, app + "?state=" + presets.encode_state(state))
    expect(page.locator("#query textarea, #query input").first).to_have_value(MD_LINK)
    expect(page.locator("#examples")).to_contain_text(HTML_LINK)  # a table cell, as text
    open_section(page, "Save · share · code", "preset-name")
    expect(page.locator("#preset-name textarea, #preset-name input").first).to_have_value(IMG)
    assert_stays_text(page, seen)


def test_crafted_preset_names_on_save_and_import_are_text(watched, app, tmp_path):
    page, seen = watched
    open_app(page, app)
    open_section(page, "Save · share · code", "preset-name")
    name = IMG + "![a](/pwn-s.png)"  # a preset name keeps 80 characters
    set_text(page, "preset-name", name)
    page.click("#save")
    saved = toast(page, "Saved")
    expect(saved).to_be_visible()
    expect(saved).to_contain_text(name)
    assert_stays_text(page, seen)

    data = json.loads((presets.BUILTIN_DIR / "sentiment.json").read_text())
    path = tmp_path / "crafted.json"
    examples = [{"input": IMG, "output": JS_LINK}, {"input": MD_IMAGE, "output": MD_LINK}]
    path.write_text(json.dumps({**data, "name": HTML_LINK, "task": SCRIPT, "examples": examples}))
    with page.expect_file_chooser() as chooser:
        page.click("#import")
    chooser.value.set_files(str(path))
    opened = toast(page, "Opened")
    expect(opened).to_be_visible()
    expect(opened).to_contain_text(HTML_LINK)
    expect(page.locator("#examples")).to_contain_text(IMG)
    # A broken upload's message names no field value as markup either.
    path.write_text(json.dumps({**data, "columns": [{"temperature": 7}], "name": IMG}))
    with page.expect_file_chooser() as chooser:
        page.click("#import")
    chooser.value.set_files(str(path))
    expect(toast(page, "The uploaded file")).to_be_visible()
    assert_stays_text(page, seen)


def test_crafted_completions_are_text_in_columns_status_chart_sweep_and_feedback(watched, app, replay, monkeypatch):
    page, seen = watched
    # The model's "answer": its first line (40 characters at most) is what the status line counts with samples > 1.
    answer = "<img src=/pwn-st.png onerror=alert(1)>"
    monkeypatch.setattr(replay_server, "SCRIPT", [answer, "\n", MD_IMAGE + " " + MD_LINK, " " + SCRIPT, "\n", JS_LINK])
    endpoint = BackendSpec(kind="openai", url=replay.url, model='<img src="/pwn-model.png">')
    state = presets.find("sentiment").model_copy(update={
        "columns": (presets.Column(max_new_tokens=8, end_sequence=(), backend="A"),), "samples": 2,
        "endpoints": {"A": endpoint}})
    open_app(page, app + "?state=" + presets.encode_state(state))
    page.click("#run")
    status = page.locator("#c0-status")
    expect(status).to_contain_text("2/2 samples", timeout=60_000)
    expect(status).to_contain_text(answer + " ×2")  # the answer count, as text
    expect(page.locator("#c0-text textarea")).to_have_value(f"[1] {answer}\n{MD_IMAGE} {MD_LINK} {SCRIPT}\n{JS_LINK}\n"
                                                            f"[2] {answer}\n{MD_IMAGE} {MD_LINK} {SCRIPT}\n{JS_LINK}")
    expect(page.locator("#dist-plot")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "untrusted.png", full_page=True)
    assert_stays_text(page, seen)

    page.click("#c0-good")
    expect(toast(page, "Saved your")).to_be_visible()
    page.get_by_role("tab", name="Feedback").click()
    page.click("#feedback-refresh")
    expect(page.locator("#feedback-table")).to_contain_text(SCRIPT)
    assert_stays_text(page, seen)

    page.get_by_role("tab", name="Sweep").click()
    set_text(page, "sweep-values", "0.2, 0.8")
    page.click("#run-sweep")
    expect(page.locator("#sweep-status")).to_contain_text("✓", timeout=60_000)
    expect(page.locator("#sweep-table")).to_contain_text(answer)
    expect(page.locator("#sweep-plot")).to_be_visible()
    assert_stays_text(page, seen)
