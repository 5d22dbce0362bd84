"""The UI's one error boundary: a FewShotError raised by a handler becomes a one-line gr.Error, and
every toast goes through here so its text is shown as text (fewshot.text.html).

Inside a grid run a failing column shows its own error (the grid puts it in that cell's
Completion) while the others finish; everything else a handler refuses goes through `shows_errors`.
An expected refusal is logged as one line: Gradio would print a traceback for every gr.Error.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from .. import text
from ..errors import FewShotError

log = logging.getLogger("fewshot.ui")


def refused(message: object) -> gr.Error:
    """The gr.Error for a refusal: its text escaped, logged as one line, no traceback on the console."""
    line = " ".join(str(message).split())
    log.warning("refused: %s", line)
    return gr.Error(text.html(line), print_exception=False)


def info(message: str) -> None:
    gr.Info(text.html(message))


def warning(message: str) -> None:
    gr.Warning(text.html(message))


def shows_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a handler (plain or generator) so that FewShotError is shown as a message, not a stack trace."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def streaming(*args: Any, **kwargs: Any):
            try:
                yield from fn(*args, **kwargs)
            except FewShotError as exc:
                raise refused(exc) from None

        return streaming

    @functools.wraps(fn)
    def plain(*args: Any, **kwargs: Any):
        try:
            return fn(*args, **kwargs)
        except FewShotError as exc:
            raise refused(exc) from None

    return plain
