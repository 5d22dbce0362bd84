"""Feedback on completions: a person's verdict (and correction) in a JSON-lines log people can review.

The blog's responsible-use advice: say which output comes from a model, let people override it and
give feedback, and watch the failures. Each record holds what is needed to see a failure again —
prompt, settings, where it ran (kind, URL, model), the seed actually used, which sample it was —
and keeps the model's original text apart from the person's correction. Never a token: the schema
has no field for one, URLs lose credentials and secret query parameters, and token-shaped strings
are masked in every text field before a record is built.

Owns: the record (`Feedback`), atomic appends (`record`), reading (`read`), filtering (`select`),
the failures summary (`failures`) and CSV export (`to_frame`, `to_csv`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .backends import BackendSpec
from .errors import ConfigError, PromptError
from .presets import Column, Preset
from .prompt import FewShotPrompt, Template, parse
from .settings import GenerationSettings, describe_validation_error

try:  # POSIX: a lock makes even a write the kernel splits land whole; elsewhere O_APPEND alone
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "flagged"
FILE = "feedback.jsonl"
Verdict = Literal["good", "bad"]

# Keys that carry secrets wherever they appear (settings mappings, URL query strings).
SECRET_KEYS = re.compile(r"(?i)(token|api[_-]?key|apikey|key|secret|password|passwd|auth|authorization|"
                         r"signature|sig|credential|bearer|session)")
# Token shapes of the providers the playground talks to (Hugging Face, OpenAI and friends), and
# "Bearer …" headers pasted into a field.
TOKEN_SHAPES = re.compile(r"\bhf_[A-Za-z0-9]{20,}|\bsk-[A-Za-z0-9_-]{16,}|\b(?:gh[pousr]|glpat)[-_][A-Za-z0-9_-]{16,}"
                          r"|(?i:bearer)\s+(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{12,}")
MASK = "[token removed]"


def mask_tokens(text: str) -> str:
    """`text` with every token-shaped string replaced by a marker."""
    return TOKEN_SHAPES.sub(MASK, text)


def clean_url(url: str) -> str:
    """The URL without user:password@, without secret query parameters, and with token shapes masked."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL at all: keep it as text, masked
        return mask_tokens(url)
    netloc = parts.netloc.rpartition("@")[2]  # host[:port] as written, without user:password@
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not SECRET_KEYS.search(k)])
    return mask_tokens(urlunsplit((parts.scheme, netloc, parts.path, query, "")))


def clean_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    """A settings or spec mapping without secret-named keys (a pasted `token` never reaches the log)."""
    return {k: v for k, v in values.items() if not SECRET_KEYS.search(str(k))}


class Feedback(BaseModel):
    """One verdict on one completion (one sample when a column took several)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rating: Verdict = Field(description="The verdict: good or bad.")
    prompt: str = Field(max_length=200_000)
    completion: str = Field(max_length=50_000, description="As the person left it: corrected, or as generated.")
    settings: GenerationSettings
    backend: BackendSpec
    time: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    original: str | None = Field(None, max_length=50_000, description="The model's text as generated.")
    correction: str | None = Field(None, max_length=50_000, description="The person's text, when it differs.")
    seed: int | None = Field(None, description="The seed the completion actually used (as the status line shows).")
    model: str = Field("", max_length=500, description="The model that answered, as the backend named it.")
    preset: str = Field("", max_length=200, description="The preset the prompt came from, if any.")
    sample: int = Field(0, ge=0, description="Which sample of its column (0 = the first).")
    column: int | None = Field(None, ge=0, description="Which Compare column (0 = the first).")
    state: Preset | None = Field(None, description="The playground state it ran in, to re-open it exactly.")

    @model_validator(mode="before")
    @classmethod
    def _no_tokens(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        backend = data.get("backend")
        if isinstance(backend, BackendSpec):
            backend = backend.model_dump()
        if isinstance(backend, Mapping):
            backend = dict(backend)
            backend["url"] = clean_url(str(backend.get("url") or ""))
            backend["model"] = mask_tokens(str(backend.get("model") or ""))
            data["backend"] = backend
        state = data.get("state")
        if isinstance(state, Preset):
            state = state.model_dump()
        if isinstance(state, Mapping) and isinstance(state.get("endpoints"), Mapping):
            state = {**state, "endpoints": {
                name: {**dict(spec.model_dump() if isinstance(spec, BackendSpec) else spec),
                       "url": clean_url(str((spec.url if isinstance(spec, BackendSpec) else spec.get("url")) or ""))}
                for name, spec in state["endpoints"].items()}}
            data["state"] = state
        for key in ("prompt", "completion", "original", "correction", "model", "preset"):
            if isinstance(data.get(key), str):
                data[key] = mask_tokens(data[key])
        # Older callers pass only `completion` (as left); with `original` the correction is the difference.
        original, completion = data.get("original"), data.get("completion")
        if data.get("correction") is None and isinstance(original, str) and isinstance(completion, str):
            data["correction"] = completion if completion != original else None
        return data

    @property
    def corrected(self) -> bool:
        return self.correction is not None

    @property
    def when(self) -> datetime:
        return _parse_time(self.time)

    def setting(self) -> str:
        """`temp=0.1, max=8`: the settings as Compare labels a column."""
        return self.settings.label()


def reopen(entry: Feedback) -> Preset:
    """The playground state to replay a record: its saved state with the record's settings as the one
    column, or else its prompt read back into task, examples and query (PromptError if it does not parse)."""
    remote = entry.backend.kind != "local"
    column = Column(**entry.settings.model_dump(), backend="A" if remote else "")
    endpoints = {"A": entry.backend} if remote else {}
    if entry.state is not None:
        return entry.state.model_copy(update={"columns": (column,), "samples": 1,
                                              "endpoints": {**entry.state.endpoints, **endpoints}})
    prompt = _parsed(entry)
    return Preset(name=f"Feedback {entry.time}"[:80], task=prompt.task, examples=prompt.examples, query=prompt.query,
                  template=prompt.template, columns=(column,), endpoints=endpoints)


def _parsed(entry: Feedback) -> FewShotPrompt:
    """The record's prompt split by the first template that reads it: its preset's, the built-in
    presets', the default one (records without a saved state carry only the rendered text)."""
    from . import presets

    found, _ = presets.load_folder()
    own = found.get(entry.preset) or next((p for p in found.values() if p.name == entry.preset), None)
    templates = [p.template for p in ([own] if own else []) + list(found.values())] + [Template()]
    for template in dict.fromkeys(templates):
        try:
            return parse(entry.prompt, template)
        except PromptError:
            continue
    raise PromptError("This record's prompt follows none of the known formats, so it cannot be split into examples: "
                      "copy it from the table instead.")


def make(
    rating: str, prompt: str, completion: str, settings: GenerationSettings | Mapping[str, Any],
    backend: BackendSpec | Mapping[str, Any], **fields: Any,
) -> Feedback:
    """A record from loose values (a UI's dicts): secret-named keys dropped, errors as one ConfigError line."""
    if isinstance(settings, GenerationSettings):  # a Compare column carries its endpoint too: keep the settings
        settings = settings.model_dump(include=set(GenerationSettings.model_fields))
    if isinstance(settings, Mapping):
        settings = clean_mapping(settings)
    if isinstance(backend, Mapping):
        backend = clean_mapping(backend)
    try:
        return Feedback(rating=rating, prompt=prompt, completion=completion, settings=settings, backend=backend,
                        **clean_mapping(fields))
    except ValidationError as exc:
        raise ConfigError(f"Cannot save this feedback: {describe_validation_error(exc)}.") from None


def folder() -> Path:
    return Path(os.environ.get("FEWSHOT_FLAG_DIR") or DEFAULT_DIR)


def log_path(where: Path | None = None) -> Path:
    return (where or folder()) / FILE


def record(entry: Feedback, where: Path | None = None) -> Path:
    """Append one line to feedback.jsonl; returns the file.

    One os.write of the whole line on an O_APPEND descriptor, under an exclusive lock: the kernel
    puts every append at the current end, and the lock keeps a long line whole even where a write
    could be split — so threads and processes writing at once never interleave.
    """
    path = log_path(where)
    line = (json.dumps(entry.model_dump(mode="json"), ensure_ascii=False) + "\n").encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            written = os.write(fd, line)
            while written < len(line):  # only on a full disk or a signal; the lock keeps it whole
                written += os.write(fd, line[written:])
        finally:
            os.close(fd)  # closing releases the lock
    except OSError as exc:
        raise ConfigError(f"Could not save the feedback in {path.parent}: {exc.strerror}.") from None
    return path


def read(where: Path | None = None, problems: list[str] | None = None) -> list[Feedback]:
    """Every record in the log, oldest first. A line that does not parse is skipped and, when
    `problems` is given, described there (line number and why) instead of hiding the rest."""
    path = log_path(where)
    if not path.exists():
        return []
    records = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                records.append(Feedback.model_validate_json(line))
            except ValidationError as exc:
                if problems is not None:
                    problems.append(f"{path.name} line {number}: {describe_validation_error(exc)[:200]}")
    return records


def select(
    records: Iterable[Feedback],
    *,
    verdict: str | None = None,
    preset: str | None = None,
    backend: str | None = None,
    since: date | datetime | str | None = None,
    until: date | datetime | str | None = None,
    corrected: bool | None = None,
) -> list[Feedback]:
    """The records matching every filter given. `backend` matches the kind (`tgi`) or a part of the
    backend's label (host, model); a date `until` includes that whole day."""
    start = _bound(since, end=False)
    stop = _bound(until, end=True)
    needle = (backend or "").strip().lower()
    return [
        r for r in records
        if (not verdict or r.rating == verdict)
        and (preset is None or preset == "" or r.preset == preset)
        and (not needle or r.backend.kind == needle or needle in r.backend.label().lower())
        and (start is None or r.when >= start)
        and (stop is None or r.when <= stop)
        and (corrected is None or r.corrected == corrected)
    ]


def to_frame(records: Sequence[Feedback]) -> pd.DataFrame:
    """One row per record, flat: the table a review view shows and the CSV export writes."""
    rows = [{
        "time": r.time, "rating": r.rating, "preset": r.preset, "backend": r.backend.kind, "url": r.backend.url,
        "model": r.model or r.backend.model, "setting": r.setting(), "seed": r.seed, "column": r.column,
        "sample": r.sample, "original": r.original if r.original is not None else r.completion,
        "correction": r.correction or "", "completion": r.completion, "prompt": r.prompt,
        "settings": json.dumps(r.settings.model_dump(mode="json"), ensure_ascii=False),
    } for r in records]
    return pd.DataFrame(rows, columns=COLUMNS)


COLUMNS = ["time", "rating", "preset", "backend", "url", "model", "setting", "seed", "column", "sample", "original",
           "correction", "completion", "prompt", "settings"]


def to_csv(records: Sequence[Feedback], path: str | Path | None = None) -> str:
    """CSV of `to_frame`; text a spreadsheet would run as a formula (= + - @) gets a leading quote."""
    text = spreadsheet_safe(to_frame(records)).to_csv(index=False)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8", newline="")
    return text


FORMULA_STARTS = ("=", "+", "-", "@")  # what a spreadsheet runs as a formula when a cell begins with it


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells beginning = + - @ get a leading quote, so a spreadsheet shows them as text."""
    frame = frame.copy()
    for column in frame.columns:
        frame[column] = frame[column].map(lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS)
                                          else v)
    return frame


def failures(records: Sequence[Feedback]) -> pd.DataFrame:
    """Per preset and setting: how many ratings, how many bad, the bad share and how many corrected;
    worst first."""
    frame = to_frame(records)
    if frame.empty:
        return pd.DataFrame(columns=["preset", "setting", "rated", "bad", "bad_share", "corrected"])
    frame["bad"] = frame["rating"] == "bad"
    frame["corrected"] = frame["correction"] != ""
    summary = frame.groupby(["preset", "setting"], as_index=False).agg(
        rated=("rating", "size"), bad=("bad", "sum"), corrected=("corrected", "sum"))
    summary["bad_share"] = (summary["bad"] / summary["rated"]).round(3)
    summary = summary[["preset", "setting", "rated", "bad", "bad_share", "corrected"]]
    return summary.sort_values(["bad", "bad_share", "preset", "setting"], ascending=[False, False, True, True],
                               ignore_index=True)


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _bound(value: date | datetime | str | None, *, end: bool) -> datetime | None:
    """A filter bound as an aware datetime; a bare date means the start (or the end) of that day, UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value) if len(value.strip()) == 10 else _parse_time(value.strip())
        except ValueError:
            raise ConfigError(f"{value!r} is not a date: write it as 2026-12-01 (or 2026-12-01T13:00).") from None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    moment = datetime.combine(value, datetime.max.time() if end else datetime.min.time())
    return moment.replace(tzinfo=UTC)
