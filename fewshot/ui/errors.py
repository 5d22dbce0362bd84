"""The UI's one error boundary: a FewShotError raised by a handler becomes a one-line gr.Error.

Inside a grid run a failing column shows its own error (the grid puts it in that cell's
Completion) while the others finish; everything else a handler refuses goes through `shows_errors`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import gradio as gr

from ..errors import FewShotError


def shows_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a handler (plain or generator) so that FewShotError is shown as a message, not a stack trace."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def streaming(*args: Any, **kwargs: Any):
            try:
                yield from fn(*args, **kwargs)
            except FewShotError as exc:
                raise gr.Error(str(exc)) from None

        return streaming

    @functools.wraps(fn)
    def plain(*args: Any, **kwargs: Any):
        try:
            return fn(*args, **kwargs)
        except FewShotError as exc:
            raise gr.Error(str(exc)) from None

    return plain
