"""fewshot.text: untrusted strings stay text in Markdown and in toasts, and read the same once rendered."""

import html as std_html
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from fewshot import text

CRAFTED = [
    '<img src=x onerror="alert(1)">', "<script>alert(1)</script>", "![m](http://evil.example/m.png)",
    "[Click here](javascript:alert(1))", "<a href=http://evil.example>sign in</a>", "http://evil.example/x",
    "www.evil.example", "me@evil.example", "**bold** _em_ `code` $x$", "# heading\n- item\n1. one", "&lt;b&gt;",
]
# CommonMark with raw HTML on (the browser test checks the Markdown Gradio itself draws).
RENDER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def visible(rendered_html: str) -> str:
    """What a reader sees: the tags dropped, entities decoded."""
    return std_html.unescape(re.sub(r"<[^>]+>", "", rendered_html)).strip()


@pytest.mark.parametrize("crafted", CRAFTED)
def test_markdown_renders_no_element_and_reads_as_typed(crafted):
    rendered = RENDER.render(f"⚠️ {text.markdown(crafted)} ×2")
    assert re.fullmatch(r"<p>[^<]*</p>\s*", rendered), rendered  # one paragraph, no element inside
    assert visible(rendered) == f"⚠️ {' '.join(crafted.split(chr(10)))} ×2"


@given(st.text(st.characters(blacklist_characters="\x00"), max_size=60))  # CommonMark itself turns NUL into U+FFFD
def test_markdown_never_makes_an_element_and_reads_as_typed(value):
    rendered = RENDER.render(text.markdown(value))
    assert "<" not in re.sub(r"^<p>|</p>$", "", rendered.strip())
    assert visible(rendered).split() == value.split()  # every word as typed; only the spacing may differ


@pytest.mark.parametrize("crafted", CRAFTED)
def test_html_is_literal_text(crafted):
    escaped = text.html(crafted)
    assert "<" not in escaped and ">" not in escaped
    assert std_html.unescape(escaped) == crafted
    assert text.html("Saved “it's” \"x\"") == "Saved “it's” \"x\""  # quotes stay: text, not attributes
