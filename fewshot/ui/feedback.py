"""The Feedback tab: the verdicts people gave (👍 / 👎 under each column), newest first, as text."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from .. import feedback
from ..errors import FewShotError
from .errors import refused
from .state import Page

SHOWN = 50  # the newest verdicts in the table; the log itself keeps them all
COLUMNS = ["time", "rating", "completion", "settings", "backend"]


def table() -> pd.DataFrame:
    try:
        entries = feedback.read()
    except (FewShotError, OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else exc  # an OSError's text names the server's path
        raise refused(f"Could not read the feedback log: {why}") from None
    rows = [[e.time, "👍 good" if e.rating == "good" else "👎 bad", e.completion, e.settings.label(), e.backend.label()]
            for e in reversed(entries[-SHOWN:])]
    return pd.DataFrame(rows, columns=COLUMNS)


def build(page: Page) -> None:
    with gr.Tab("Feedback", id="feedback", elem_id="feedback"):
        gr.Markdown("Every 👍 / 👎 given under a column, with the answer as the person left it. The whole log is "
                    "`feedback.jsonl` in the app's feedback folder (FEWSHOT_FLAG_DIR).")
        refresh = gr.Button("Refresh", size="sm", elem_id="feedback-refresh")
        shown = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=True, elem_id="feedback-table",
                             label="Recent verdicts", max_height=420)
    refresh.click(table, None, shown, api_visibility="private")
