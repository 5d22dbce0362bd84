"""Feedback on completions: a person's verdict (and correction) appended to a JSON-lines file.

The blog's responsible-use advice: say which output comes from a model, let people override it and
give feedback, and watch the failures. Each record holds what is needed to see a failure again —
prompt, settings, where it ran (kind, URL, model), the completion as the person left it — and
never a token: the record's schema has no field for one.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .backends import BackendSpec
from .errors import ConfigError
from .settings import GenerationSettings

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "flagged"
_lock = threading.Lock()


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rating: Literal["good", "bad"]
    prompt: str = Field(max_length=200_000)
    completion: str = Field(max_length=50_000, description="As the person left it: corrected, or as generated.")
    settings: GenerationSettings
    backend: BackendSpec
    time: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


def folder() -> Path:
    return Path(os.environ.get("FEWSHOT_FLAG_DIR") or DEFAULT_DIR)


def record(entry: Feedback, where: Path | None = None) -> Path:
    """Append one line to feedback.jsonl; returns the file."""
    path = (where or folder()) / "feedback.jsonl"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _lock, path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry.model_dump(mode="json"), ensure_ascii=False) + "\n")
    except OSError as exc:
        raise ConfigError(f"Could not save the feedback in {path.parent}: {exc.strerror}.") from None
    return path


def read(where: Path | None = None) -> list[Feedback]:
    path = (where or folder()) / "feedback.jsonl"
    if not path.exists():
        return []
    return [Feedback.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
