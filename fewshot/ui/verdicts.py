"""The verdict buttons under each Compare column: 👍 / 👎 saved to the feedback log — the model's text
as generated and the person's correction apart, the seed it used, settings, backend, preset and the
page state, never a token; with several samples the chosen one ("Rate sample") — and "Add as
example" (the query and that answer)."""

from __future__ import annotations

import re

import gradio as gr

from .. import feedback
from ..backends import BackendSpec
from ..backends.base import Completion, as_text
from ..errors import ConfigError
from .errors import info, shows_errors
from .state import Page, Run

SAMPLE_MARK = re.compile(r"(?m)^\[(\d+)\] ?")  # how Compare numbers the samples of a column: "[2] text"


def cell(value: object) -> str:
    """A table cell as text: an empty cell comes as None (never the word "None")."""
    return "" if value is None else str(value)


def sample_text(box: str, sample: int) -> str | None:
    """Sample `sample`'s text (0-based) as the person left it in a column that lists several, or None
    when its "[n]" marker is gone."""
    parts = SAMPLE_MARK.split(box or "")
    found = {int(n) - 1: text.rstrip("\n") for n, text in zip(parts[1::2], parts[2::2], strict=True)}
    return found.get(sample)


def rated(run: Run | None, index: int, pick, box: str) -> tuple[Completion, int, str]:
    """The completion a 👍/👎 under column `index` is about, its sample index, and its text as left."""
    if run is None or index >= len(run.per_column):
        raise ConfigError("Nothing to rate yet: run first.")
    snapshots = run.per_column[index]
    sample = int(pick or 1) - 1 if len(snapshots) > 1 else 0
    if not 0 <= sample < len(snapshots):
        raise ConfigError(f"Column {index + 1} has samples 1 to {len(snapshots)}: choose one of them to rate.")
    c = snapshots[sample]
    if c is None or not c.done:
        raise ConfigError("Wait until this answer is finished, then rate it.")
    if c.error:
        raise ConfigError(f"Column {index + 1} failed, so there is no answer to rate: {c.error}")
    if len(snapshots) == 1:
        return c, sample, box or ""
    left = sample_text(box, sample)
    if left is None:
        raise ConfigError(f"Keep the [{sample + 1}] in front of sample {sample + 1} so its answer can be read, "
                          "then rate again.")
    # The column lists each sample stripped: an unchanged line is the model's text as generated.
    return c, sample, c.text if left == c.text.strip() else left


def wire(page: Page) -> None:
    columns = page.compare.columns
    with_answers = page.inputs | {c.text for c in columns} | {c.pick for c in columns} | {page.fields.preset}

    def rate(index: int, rating: str):
        @shows_errors
        def handler(values: dict, request: gr.Request) -> None:
            """Save a 👍/👎 on a column's completion (one sample of it), as generated and as corrected."""
            run = page.services.last_run(request.session_hash)
            c, sample, text = rated(run, index, values[columns[index].pick], values[columns[index].text])
            if not text.strip():
                raise ConfigError("The answer box is empty: write the answer you expected, then rate it.")
            column = run.state.columns[index]
            spec = run.state.spec(column.backend) if column.backend else \
                BackendSpec(kind="local", model=page.services.embedded().model)
            preset = values[page.fields.preset] or ""
            try:  # the whole page as it ran, so "Re-open" gives it back exactly
                state = run.state.preset(name=preset)
            except ConfigError:  # raw mode: the record keeps the prompt text only
                state = None
            entry = feedback.make(rating, as_text(run.state.run_prompt), text, c.settings or column.settings, spec,
                                  original=c.text, seed=c.seed, sample=sample, column=index, preset=preset,
                                  model=c.model, state=state)
            feedback.record(entry)
            which = f" sample {sample + 1}" if len(run.per_column[index]) > 1 else ""
            seed = f" (seed {c.seed})" if c.seed is not None else ""
            # Not where: the feedback file is a path on the server, not a visitor's business.
            thumb = "👍" if rating == "good" else "👎"
            info(f"Saved your {thumb} for column {index + 1}{which}{seed}: see the Feedback tab.")

        return handler

    def add_as_example(index: int):
        @shows_errors
        def handler(values: dict) -> list[list[str]]:
            """The query and this column's answer (as corrected) become the last example."""
            if int(values[page.compare.samples]) > 1:
                raise ConfigError("Set Samples per column to 1 and run again: then pick the answer to keep.")
            answer = (values[columns[index].text] or "").strip()
            query = (values[page.fields.query] or "").strip()
            if not answer or not query:
                raise ConfigError("Run first: the example is the query and this column's answer (fix it in the box "
                                  "first).")
            rows = [[cell(v) for v in row] for row in (values[page.fields.examples] or [])
                    if any(cell(v).strip() for v in row)]
            info("Added as the last example. Write the next query to try it.")
            return [*rows, [query, answer]]

        return handler

    def show_pick(samples: int):
        """With several samples per column, 👍/👎 rate the one chosen here."""
        k = int(samples)
        return [gr.update(visible=k > 1, maximum=k, value=1) for _ in columns]

    page.compare.samples.change(show_pick, page.compare.samples, [c.pick for c in columns],
                                api_visibility="private", show_progress="hidden")
    for i, c in enumerate(columns):
        c.good.click(rate(i, "good"), with_answers, None, api_visibility="private")
        c.bad.click(rate(i, "bad"), with_answers, None, api_visibility="private")
        c.add.click(add_as_example(i), with_answers, page.fields.examples, api_visibility="private")
