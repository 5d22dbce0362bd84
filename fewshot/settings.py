"""Generation settings: one validated model whose ranges and descriptions drive the UI and CLI."""

from __future__ import annotations

from typing import Any

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError

MAX_STOPS = 4  # TGI's default limit, so a setting that works here works on every backend
MAX_SEED = 2**31 - 1  # the largest seed every backend takes (llama.cpp's is a 32-bit int)


class GenerationSettings(BaseModel):
    """How one completion is sampled. Field descriptions are the help text in the UI and CLI."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(
        0.5, ge=0.0, le=2.0, description="Randomness: 0 = greedy (always the likeliest token), 0.9 = adventurous."
    )
    max_new_tokens: int = Field(
        32, ge=1, le=1024, description="Most tokens to generate: a label needs 2–5, a sentence 20–40."
    )
    end_sequence: tuple[str, ...] = Field(
        ("###",), max_length=MAX_STOPS,
        description="Stop strings (up to 4): generation ends where one appears and it is cut from the text.",
    )
    top_p: float = Field(
        1.0, gt=0.0, le=1.0, description="Sample from the likeliest tokens whose probabilities add up to p. 1 = off."
    )
    top_k: int = Field(0, ge=0, le=1000, description="Sample only from the k most likely tokens. 0 = off.")
    repetition_penalty: float = Field(
        1.0, ge=1.0, le=2.0, description="Penalise tokens already in the text. 1 = off; 1.1–1.3 curbs loops."
    )
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED,
        description="Fixes the random choices so a sampled run repeats exactly. Empty = a new seed each run.",
    )

    @field_validator("end_sequence", mode="before")
    @classmethod
    def _stops(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            return tuple(s for s in value if s != "")
        return value

    def label(self, base: GenerationSettings | None = None) -> str:
        """`temp=0.1, max=8, stop=\n`: the temperature, then every field that differs from `base`
        (from the defaults when no base is given)."""
        fields = ["temperature", *(f for f in changed_fields(self, base or GenerationSettings()) if f != "temperature")]
        return ", ".join(f"{SHORT_NAMES[f]}={format_value(f, getattr(self, f))}" for f in fields)


SHORT_NAMES = {
    "temperature": "temp",
    "max_new_tokens": "max",
    "end_sequence": "stop",
    "top_p": "top_p",
    "top_k": "top_k",
    "repetition_penalty": "rep",
    "seed": "seed",
}


def changed_fields(settings: GenerationSettings, base: GenerationSettings) -> list[str]:
    return [f for f in GenerationSettings.model_fields if getattr(settings, f) != getattr(base, f)]


def make_settings(**values: Any) -> GenerationSettings:
    """Build settings, turning a pydantic error into one readable ConfigError."""
    try:
        return GenerationSettings(**values)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """`temperature must be less than or equal to 2 (got 3.0)`; several errors joined by '; '."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "value"
        message = err["msg"].replace("Input should be ", "must be ").replace("Value error, ", "")
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown field {where!r}")
        elif err["type"] == "missing":
            parts.append(f"{where} is missing")
        else:
            got = repr(err.get("input"))
            got = got if len(got) <= 80 else got[:77] + "..."
            parts.append(f"{where} {message[:1].lower()}{message[1:]} (got {got})")
    return "; ".join(parts)


def bounds(name: str) -> tuple[float | None, float | None]:
    """(minimum, maximum) of a numeric field, read from its Field constraints."""
    low = high = None
    for rule in GenerationSettings.model_fields[name].metadata:
        if isinstance(rule, annotated_types.Ge | annotated_types.Gt):
            low = rule.ge if isinstance(rule, annotated_types.Ge) else rule.gt
        elif isinstance(rule, annotated_types.Le | annotated_types.Lt):
            high = rule.le if isinstance(rule, annotated_types.Le) else rule.lt
    return low, high


def describe(name: str) -> str:
    return GenerationSettings.model_fields[name].description or ""


# Text fields show control characters as escapes: a newline is "\n", a backslash "\\". In a
# list of stop strings "|" separates them and "\|" is a literal bar.
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "|": "|"}


def unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPES:
            out.append(_ESCAPES[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def parse_stops(text: str) -> tuple[str, ...]:
    """`###|\n` -> ("###", "\n"): split on unescaped bars, then unescape each part."""
    parts, current, i = [], "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            current += text[i : i + 2]
            i += 2
        elif text[i] == "|":
            parts.append(current)
            current, i = "", i + 1
        else:
            current += text[i]
            i += 1
    return tuple(unescape(p) for p in [*parts, current] if p)


def format_stops(stops: tuple[str, ...]) -> str:
    return "|".join(escape(s).replace("|", "\\|") for s in stops)


def format_value(name: str, value: Any) -> str:
    if name == "end_sequence":
        return format_stops(value) or "none"
    if value is None:
        return "random"
    return f"{value:g}" if isinstance(value, float) else str(value)
