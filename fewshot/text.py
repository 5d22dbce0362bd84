"""Untrusted text shown as text: the one escaping rule for every string a user, a link, a preset file
or a model supplied that reaches markup.

Two kinds of markup reach the browser: Markdown blocks (status lines, summaries) and toasts (the
gr.Error / gr.Warning / gr.Info messages, which Gradio renders as sanitised HTML: sanitising keeps
`<a href>` and `<img src>`, so a crafted name would show a live link and load an external image).

- `markdown(s)` for a string placed inside Markdown: every ASCII punctuation mark is backslash-escaped
  (CommonMark lets any of them be), so no tag, link, image, emphasis, heading, list, code span, autolink
  (`http:`, `www.`, `a@b.c`) or LaTeX (`$`) can start inside it; line breaks and runs of blanks become
  one space, so it cannot open a block (list, heading, code) either.
- `html(s)` for a whole toast message: `&`, `<` and `>` as entities; quotes stay (text, not attributes).

Tables and charts get plain strings: Gradio draws "str" table cells and chart labels as text.
"""

from __future__ import annotations

import html as _html
import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # the ASCII punctuation ranges: ! to /, : to @, [ to `, { to ~
_SPACES = re.compile(r"\s+")  # line breaks and runs of blanks: one space, so no block (list, code) can open


def markdown(value: object) -> str:
    """`value` as literal text inside Markdown (one line)."""
    return _PUNCTUATION.sub(r"\\\1", _SPACES.sub(" ", str(value)))


def html(value: object) -> str:
    """`value` as literal text inside HTML (a toast message)."""
    return _html.escape(str(value), quote=False)
