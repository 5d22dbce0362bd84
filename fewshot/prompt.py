"""A few-shot prompt: task description, examples, query and the template that joins them.

Pure and token-free. `render()` turns the parts into the text a model completes; `parse()` reads
such a text back into parts. With the blog's template:

    Classify the sentiment of each tweet.
    Tweet: I loved the new Batman movie!
    Sentiment: positive
    ###
    Tweet: This new music video was incredible
    Sentiment:
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .errors import PromptError

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class Example(BaseModel):
    """One demonstration: an input and the output the model should imitate."""

    model_config = _FROZEN
    input: str
    output: str


class Template(BaseModel):
    """How parts are joined: `{input_prefix}{input}{output_prefix}{output}`, examples joined by
    `separator`. The query line ends with the output prefix minus trailing spaces, so the model
    writes the leading space of its answer itself (as it saw in every example)."""

    model_config = _FROZEN
    input_prefix: str = Field("Input: ", description="Text before each input, e.g. 'Tweet: '.")
    output_prefix: str = Field(
        "\nOutput: ", min_length=1, description="Text between input and output, e.g. '\\nSentiment: ' or ' => '."
    )
    separator: str = Field("\n###\n", min_length=1, description="Text between examples, e.g. '\\n###\\n'.")


class FewShotPrompt(BaseModel):
    """Task description + examples + query, rendered with a template."""

    model_config = _FROZEN
    task: str = ""
    examples: tuple[Example, ...] = ()
    query: str = ""
    template: Template = Template()

    def render(self) -> str:
        """The text sent to a completion model."""
        t = self.template
        shots = [t.input_prefix + e.input + t.output_prefix + e.output for e in self.examples]
        body = t.separator.join([*shots, t.input_prefix + self.query + t.output_prefix.rstrip(" ")])
        return f"{self.task}\n{body}" if self.task else body

    def with_shots(self, n: int) -> FewShotPrompt:
        """The same prompt keeping only the first `n` examples."""
        return self.model_copy(update={"examples": self.examples[: max(n, 0)]})

    def check(self) -> None:
        """Raise PromptError when the prompt cannot be run."""
        if not self.query.strip():
            raise PromptError("The query is empty: type the text the model should complete.")

    def messages(self) -> list[dict[str, str]]:
        """The prompt as chat turns: system = task, each example a user/assistant pair, query last."""
        turns = [{"role": "system", "content": self.task}] if self.task.strip() else []
        for e in self.examples:
            turns += [{"role": "user", "content": e.input}, {"role": "assistant", "content": e.output}]
        return [*turns, {"role": "user", "content": self.query}]


def parse(text: str, template: Template | None = None) -> FewShotPrompt:
    """Read a rendered prompt back into task, examples and query.

    Inverse of `render()` for texts that follow `template`; otherwise raises PromptError saying
    which part does not fit. When the input prefix is empty, the line just before the first
    output prefix is taken as the first input and anything above it as the task.
    """
    t = template or Template()
    ip, op, end = t.input_prefix, t.output_prefix, t.output_prefix.rstrip(" ")
    if not text.endswith(end):
        raise PromptError(f"The prompt should end with the output prefix {end!r} after the query.")
    start = _body_start(text, ip, op, end)
    task, body = (text[: start - 1], text[start:]) if start else ("", text)
    *shots, last = body[: len(body) - len(end)].split(t.separator)

    examples = []
    for number, chunk in enumerate(shots, start=1):
        at = chunk.find(op, len(ip))
        if not chunk.startswith(ip) or at < 0:
            want = f"start with {ip!r} and contain {op!r}" if ip else f"contain {op!r}"
            raise PromptError(f"Example {number} does not follow the format: it should {want}.")
        examples.append(Example(input=chunk[len(ip) : at], output=chunk[at + len(op) :]))
    if not last.startswith(ip):
        raise PromptError(f"The query should start with the input prefix {ip!r}.")
    return FewShotPrompt(task=task, examples=tuple(examples), query=last[len(ip) :], template=t)


def _body_start(text: str, ip: str, op: str, end: str) -> int:
    """Where the examples (or the query) begin; the task, if any, is the text before, minus "\n"."""
    if ip:
        if text.startswith(ip):
            return 0
        at = text.find("\n" + ip)
        if at < 0:
            raise PromptError(f"No line starts with the input prefix {ip!r}.")
        return at + 1
    # No input prefix: the first input is the line just before the first output prefix.
    first_output = text.find(op)
    if first_output < 0:
        first_output = len(text) - len(end)  # zero-shot: only the query's output prefix
    return text.rfind("\n", 0, first_output) + 1
