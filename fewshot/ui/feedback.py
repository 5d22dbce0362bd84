"""The Feedback tab: the log people can review. Filters (verdict, preset, backend, dates), every
matching record as plain text (the model's original and the correction apart), the failures per
preset and setting, CSV export, and "Re-open" (a record's prompt and settings back in the playground).

User- and model-written text only ever reaches Dataframes and Textboxes, so it is never read as HTML
or Markdown. The log is read afresh on every action: it is append-only, so a record's number (its
line in the log, from 1) stays the same.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from .. import feedback
from ..errors import ConfigError
from .errors import info, shows_errors
from .state import Page

ALL = "(all)"
VERDICTS = [(ALL, ""), ("👍 good", "good"), ("👎 bad", "bad")]
SHOWN = 200  # the newest matching records in the table; the CSV holds every match
TABLE = ["#", "time (UTC)", "rating", "preset", "backend", "model", "setting", "seed", "column·sample", "original",
         "correction"]
WIDTHS = ["4%", "11%", "6%", "9%", "6%", "12%", "9%", "9%", "8%", "13%", "13%"]  # the texts get the room
SUMMARY = ["preset", "setting", "rated", "bad", "bad_share", "corrected"]


@dataclass(frozen=True)
class Filters:
    verdict: str = ""
    preset: str = ""
    backend: str = ""
    since: str = ""
    until: str = ""


def load(problems: list[str]) -> list[feedback.Feedback]:
    try:
        return feedback.read(problems=problems)
    except OSError as exc:
        raise ConfigError(f"Could not read the feedback log: {exc.strerror}.") from None  # no server path


def matching(records: list[feedback.Feedback], f: Filters) -> list[tuple[int, feedback.Feedback]]:
    """(number in the log from 1, record) of every record the filters let through, oldest first."""
    number = {id(r): i for i, r in enumerate(records, start=1)}
    chosen = feedback.select(records, verdict=f.verdict or None, preset=None if f.preset in ("", ALL) else f.preset,
                             backend=f.backend or None, since=f.since.strip() or None, until=f.until.strip() or None)
    return [(number[id(r)], r) for r in chosen]


def table(rows: list[tuple[int, feedback.Feedback]]) -> pd.DataFrame:
    frame = feedback.to_frame([r for _, r in rows])
    frame.insert(0, "#", [n for n, _ in rows])
    frame["time (UTC)"] = frame["time"].str.replace("T", " ").str.replace("+00:00", "")
    # Numbered from 1, as the page numbers columns and samples.
    frame["column·sample"] = [("" if pd.isna(c) else f"{int(c) + 1}·") + str(int(k) + 1)
                              for c, k in zip(frame["column"], frame["sample"], strict=True)]
    frame["seed"] = frame["seed"].map(lambda s: "" if pd.isna(s) else str(int(s)))
    return frame[TABLE].iloc[::-1].head(SHOWN).astype(str)


def status(shown: int, total: int, problems: list[str]) -> str:
    line = f"{shown} of {total} records match" + (f" (the newest {SHOWN} are listed)" if shown > SHOWN else "") + "."
    if problems:
        line += f" {len(problems)} damaged line(s) skipped, e.g. {problems[0]}"
    return line


def build(page: Page) -> None:
    with gr.Tab("Feedback", id="feedback", elem_id="feedback") as tab:
        gr.Markdown("Every 👍 / 👎 given under a Compare column: the model's original text, the person's correction, "
                    "the seed it used and where it ran. The log is `feedback.jsonl` in the feedback folder "
                    "(`FEWSHOT_FLAG_DIR`). Pick a record's **#** to re-open its prompt and settings.")
        with gr.Row(equal_height=True):
            verdict = gr.Dropdown(VERDICTS, value="", label="Verdict", elem_id="fb-verdict", min_width=120)
            preset = gr.Dropdown([ALL], value=ALL, label="Preset", allow_custom_value=True, elem_id="fb-preset",
                                 min_width=160)
            backend = gr.Textbox(label="Backend", placeholder="tgi, a host or a model", elem_id="fb-backend")
            since = gr.Textbox(label="From", placeholder="2026-12-01", elem_id="fb-since")
            until = gr.Textbox(label="Until", placeholder="2026-12-31", elem_id="fb-until")
            refresh = gr.Button("Refresh", size="sm", elem_id="feedback-refresh", min_width=80)
        log_line = gr.Textbox(label="Log", interactive=False, lines=1, elem_id="feedback-status")
        shown = gr.Dataframe(headers=TABLE, datatype="str", interactive=False, wrap=True, elem_id="feedback-table",
                             label="Records, newest first", max_height=420, column_widths=WIDTHS)
        with gr.Row(equal_height=True):
            number = gr.Number(None, label="Record #", precision=0, minimum=1, elem_id="fb-number", min_width=100)
            reopen_btn = gr.Button("Re-open in the playground", size="sm", elem_id="fb-reopen", min_width=160)
            export_btn = gr.Button("Export CSV", size="sm", elem_id="fb-export", min_width=100)
            file = gr.File(label="Feedback CSV", visible=False, elem_id="fb-file")
        summary = gr.Dataframe(headers=SUMMARY, datatype="str", interactive=False, elem_id="feedback-failures",
                               label="Failures by preset and setting (of the records that match), worst first")
    filters = [verdict, preset, backend, since, until]

    @shows_errors
    def show(*given: str):
        """The records the filters let through, the failures among them, and the presets to filter by."""
        problems: list[str] = []
        records = load(problems)
        rows = matching(records, Filters(*(v or "" for v in given)))
        presets_seen = sorted({r.preset for r in records if r.preset})
        return (table(rows), feedback.failures([r for _, r in rows]).astype(str), status(len(rows), len(records),
                                                                                       problems),
                gr.update(choices=[ALL, *presets_seen]))

    @shows_errors
    def export(*given: str):
        """Every matching record as CSV (text a spreadsheet would run as a formula is quoted)."""
        rows = matching(load([]), Filters(*(v or "" for v in given)))
        if not rows:
            raise ConfigError("No record matches these filters: clear one and export again.")
        path = Path(tempfile.mkdtemp(prefix="fewshot-")) / "feedback.csv"
        feedback.to_csv([r for _, r in rows], path)
        return gr.update(value=str(path), visible=True)

    @shows_errors
    def reopen(n: float | None):
        """Record `n`'s prompt and settings (its column, one sample) back on the page."""
        records = load([])
        if n is None or not 1 <= int(n) <= len(records):
            raise ConfigError(f"Give a record # from the table (1 to {len(records)}).")
        entry = records[int(n) - 1]
        p = feedback.reopen(entry)
        info(f"Re-opened record {int(n)} ({entry.rating}, {entry.setting()}): press Run to see it again.")
        return page.updates(p)

    def picked(frame: pd.DataFrame, evt: gr.SelectData):
        """Clicking a row puts its # in the Record # field."""
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        try:
            return int(frame.iloc[row]["#"])
        except (IndexError, KeyError, TypeError, ValueError):
            return gr.update()

    outputs = [shown, summary, log_line, preset]
    quiet = {"api_visibility": "private"}
    for trigger in (refresh.click, tab.select, verdict.input, preset.input, backend.submit, since.submit,
                    until.submit):
        trigger(show, filters, outputs, **quiet)
    export_btn.click(export, filters, file, **quiet)
    reopen_btn.click(reopen, number, page.outputs, **quiet)
    shown.select(picked, shown, number, show_progress="hidden", **quiet)
