"""The verdict buttons under each Compare column: 👍 / 👎 saved to the feedback log (with the answer
as the person corrected it, never a token), and "Add as example" (the query and that answer)."""

from __future__ import annotations

from .. import feedback
from ..backends import BackendSpec
from ..backends.base import as_text
from ..errors import ConfigError
from .errors import info, shows_errors
from .state import Page


def cell(value: object) -> str:
    """A table cell as text: an empty cell comes as None (never the word "None")."""
    return "" if value is None else str(value)


def wire(page: Page) -> None:
    columns = page.compare.columns
    with_answers = page.inputs | {c.text for c in columns}

    def rate(index: int, rating: str):
        @shows_errors
        def handler(values: dict) -> None:
            """Save a 👍/👎 on a column's completion (as the person may have corrected it)."""
            text = values[columns[index].text] or ""
            if not text.strip():
                raise ConfigError("Nothing to rate yet: run first.")
            state = page.read(values)
            column = state.columns[index]
            spec = state.spec(column.backend) if column.backend else \
                BackendSpec(kind="local", model=page.services.embedded().model)
            feedback.record(feedback.Feedback(rating=rating, prompt=as_text(state.run_prompt), completion=text,
                                              settings=column.settings, backend=spec))
            # Not where: the feedback file is a path on the server, not a visitor's business.
            info(f"Saved your {'👍' if rating == 'good' else '👎'} for column {index + 1}: see the Feedback tab.")

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

    for i, c in enumerate(columns):
        c.good.click(rate(i, "good"), with_answers, None, api_visibility="private")
        c.bad.click(rate(i, "bad"), with_answers, None, api_visibility="private")
        c.add.click(add_as_example(i), with_answers, page.fields.examples, api_visibility="private")
