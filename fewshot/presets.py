"""Presets: a whole playground state as a JSON file, validated strictly; and share links.

One file per preset in a folder; the file name without `.json` is the preset's id. Built-in
presets (presets/) are read-only; users save theirs in FEWSHOT_PRESETS_DIR (user_presets/ by
default). A broken file never stops the others from loading: it comes back as an error naming
file and field, logged once as one line; if the default preset's own file is broken, a blank
`FALLBACK` takes its place so the page still opens. A share link carries a whole preset,
compressed, bounded before and after decompression, so links need no server-side storage and
survive restarts.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import tempfile
import threading
import zlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .backends import BackendSpec
from .errors import ConfigError
from .prompt import Example, FewShotPrompt, Template
from .settings import GenerationSettings, describe_validation_error

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "presets"
LINK_MAX_CHARS = 8000  # encoded ?state= value: fits every browser and server URL limit
LINK_MAX_BYTES = 256_000  # the JSON inside once decompressed: a zip bomb stops here
LINK_VERSION = "1."
DEFAULT_PRESET = "sentiment"
FEATURED = ("sentiment", "translate-en-fr")  # the blog's two examples lead the list
MAX_COLUMNS = 6
MAX_SAMPLES = 10
ENDPOINTS = ("A", "B", "C")  # named endpoints a column can run on; "" is the embedded model
EndpointName = Literal["A", "B", "C"]

log = logging.getLogger(__name__)
_logged: set[tuple[Path, str]] = set()  # load messages already logged: the files are read again on every page open
_logged_lock = threading.Lock()


class Column(GenerationSettings):
    """One Compare column: its settings and where it runs."""

    backend: Literal["", "A", "B", "C"] = Field("", description="The endpoint that runs this column; empty = embedded.")

    @property
    def settings(self) -> GenerationSettings:
        return GenerationSettings(**self.model_dump(exclude={"backend"}))


DEFAULT_COLUMNS = tuple(Column(temperature=t) for t in (0.1, 0.5, 0.9))


class ExampleStrategy(BaseModel):
    """Examples chosen per query from a pool (fewshot/select.py), stored as the rule, not a list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["similar"] = Field("similar", description="similar: the k pool rows nearest to each query.")
    k: int = Field(4, ge=1, le=32, description="Examples shown per query.")
    pool: str = Field(min_length=1, max_length=500, description="The pool: a CSV file with columns text,label.")


class Preset(BaseModel):
    """Everything needed to reopen a playground state (never a token)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    task: str = ""
    examples: tuple[Example, ...] = ()
    query: str = ""
    template: Template = Template()
    columns: tuple[Column, ...] = Field(DEFAULT_COLUMNS, min_length=1, max_length=MAX_COLUMNS)
    samples: int = Field(1, ge=1, le=MAX_SAMPLES, description="Completions per column.")
    endpoints: dict[EndpointName, BackendSpec] = Field(default_factory=dict)
    strategy: ExampleStrategy | None = Field(None, description="Choose the examples per query instead of `examples`.")

    @model_validator(mode="after")
    def _columns_use_defined_endpoints(self) -> Preset:
        for i, column in enumerate(self.columns, start=1):
            if column.backend and column.backend not in self.endpoints:
                raise ValueError(f"column {i} runs on endpoint {column.backend}, which is not defined in endpoints")
        return self

    @property
    def prompt(self) -> FewShotPrompt:
        return FewShotPrompt(task=self.task, examples=self.examples, query=self.query, template=self.template)


# Opened in place of the default preset when its file cannot be loaded (the message says which).
FALLBACK = Preset(name="Blank prompt", description="The default preset's file could not be loaded: see the message.")


def parse_preset(text: str, source: str = "preset") -> Preset:
    """Validate preset JSON; errors name `source` and the field."""
    try:
        return Preset.model_validate_json(text)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise ConfigError(f"{source} is not valid JSON: {exc.errors()[0]['msg']}") from None
        raise ConfigError(f"{source}: {describe_validation_error(exc)}") from None


def load_file(path: Path) -> Preset:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read preset file {path.name}: {exc}") from None
    return parse_preset(text, source=f"Preset file {path.name}")


def load_folder(folder: Path = BUILTIN_DIR) -> tuple[dict[str, Preset], list[str]]:
    """All presets in `folder` by id, and one message per file that failed to load."""
    presets, errors = {}, []
    for path in sorted(folder.glob("*.json")):
        try:
            presets[path.stem] = load_file(path)
        except ConfigError as exc:
            errors.append(str(exc))
            _log_once(folder, str(exc))
    return presets, errors


def _log_once(folder: Path, message: str) -> None:
    with _logged_lock:
        if (folder, message) in _logged:
            return
        _logged.add((folder, message))
    log.warning("%s (skipped; folder %s)", " ".join(message.split()), folder)


def user_dir() -> Path:
    return Path(os.environ.get("FEWSHOT_PRESETS_DIR") or BUILTIN_DIR.parent / "user_presets")


def find(name_or_path: str, folders: tuple[Path, ...] | None = None) -> Preset:
    """A preset by id (`sentiment`, or one saved by the user) or by path to a JSON file."""
    folders = folders or (BUILTIN_DIR, user_dir())
    path = Path(name_or_path)
    if path.suffix == ".json" and path.exists():
        return load_file(path)
    if SLUG.fullmatch(name_or_path):
        for folder in folders:
            if (candidate := folder / f"{name_or_path}.json").exists():
                return load_file(candidate)
    known = ", ".join(sorted(p.stem for folder in folders for p in folder.glob("*.json")))
    raise ConfigError(f"No preset named {name_or_path!r}. Known presets: {known}; or give a path to a .json file.")


# --- user presets ------------------------------------------------------------------------------

SLUG = re.compile(r"[^\W_]+(-[^\W_]+)*")  # letters (any script) and digits, single dashes between


def slug(name: str) -> str:
    """The file id for a display name: lower-case letters (any script), digits and single dashes."""
    return re.sub(r"[\W_]+", "-", name.lower()).strip("-")[:60].strip("-")


class Store:
    """Built-in presets (read-only) and the user's own, in one namespace of ids."""

    def __init__(self, folder: Path | None = None, builtin: Path = BUILTIN_DIR) -> None:
        self.folder, self.builtin = folder or user_dir(), builtin

    def load(self) -> tuple[dict[str, Preset], set[str], list[str]]:
        """(all presets by id, the ids that are built in, one message per broken file)."""
        builtin, errors = load_folder(self.builtin)
        if DEFAULT_PRESET not in builtin:  # the page opens on it: a broken file must not stop the app
            builtin[DEFAULT_PRESET] = FALLBACK
        mine, more = load_folder(self.folder) if self.folder.is_dir() else ({}, [])
        clash = [key for key in mine if key in builtin]
        errors += [f"Preset file {key}.json in {self.folder} has a built-in preset's name; it is ignored."
                   for key in clash]
        return {**{k: v for k, v in mine.items() if k not in builtin}, **builtin}, set(builtin), errors + more

    def path(self, name: str) -> Path:
        """Where a user preset with this display name lives; refuses names that leave the folder."""
        key = slug(name)
        if not key:
            raise ConfigError("Give the preset a name with letters or digits.")
        path = (self.folder / f"{key}.json").resolve()
        if path.parent != self.folder.resolve():
            raise ConfigError(f"{name!r} is not a valid preset name.")
        builtin_names = {p.name.lower() for p in load_folder(self.builtin)[0].values()}
        if (self.builtin / f"{key}.json").exists() or name.strip().lower() in builtin_names:
            raise ConfigError(f"{name!r} is a built-in preset, which cannot be changed: choose another name.")
        return path

    def save(self, name: str, preset: Preset, overwrite: bool = True) -> str:
        """Save under `name` (the display name goes into the file); returns the id. Saving again
        under the same name replaces the preset; a different name with the same id is refused."""
        name = name.strip()
        path = self.path(name)
        if path.exists():
            existing = _name_in(path)
            if not overwrite or (existing is not None and existing.strip().lower() != name.lower()):
                raise ConfigError(f"A saved preset {existing or path.stem!r} has a name too close to {name!r}: "
                                  "choose another name, or save under that one to replace it.")
        self._write(path, Preset.model_validate({**preset.model_dump(), "name": name[:80]}))
        return path.stem

    def _write(self, path: Path, preset: Preset) -> None:
        """Write through a temporary file: never a half-written preset file, even with two saves at once."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=self.folder, suffix=".tmp", delete=False) as f:
            f.write(to_json(preset))
        Path(f.name).replace(path)

    def rename(self, key: str, new_name: str) -> str:
        old = self._own(key)
        preset = load_file(old)
        if slug(new_name) == key:  # the same file: only the display name changes
            self._write(old, preset.model_copy(update={"name": new_name.strip()[:80]}))
            return key
        new_key = self.save(new_name, preset, overwrite=False)
        old.unlink()
        return new_key

    def delete(self, key: str) -> None:
        self._own(key).unlink()

    def _own(self, key: str | None) -> Path:
        if not key or not SLUG.fullmatch(key):
            raise ConfigError("Choose one of your saved presets first.")
        if (self.builtin / f"{key}.json").exists():
            raise ConfigError("Built-in presets cannot be renamed or deleted; save a copy under another name.")
        path = self.folder / f"{key}.json"
        if not path.exists():
            raise ConfigError(f"There is no saved preset {key!r}.")
        return path


def _name_in(path: Path) -> str | None:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        return None


# --- share links ---------------------------------------------------------------------------------


def encode_state(preset: Preset) -> str:
    """The value of a `?state=` link: version, then URL-safe base64 of the compressed JSON."""
    data = json.dumps(preset.model_dump(mode="json", exclude_defaults=True), ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")
    packed = base64.urlsafe_b64encode(zlib.compress(data, 9)).decode("ascii").rstrip("=")
    if len(LINK_VERSION) + len(packed) > LINK_MAX_CHARS:
        raise ConfigError(
            f"This state is too large for a link ({len(packed):,} characters; links hold {LINK_MAX_CHARS:,}). "
            "Save it as a preset and share ?preset=NAME, or export the JSON."
        )
    return LINK_VERSION + packed


def decode_state(value: str) -> Preset:
    """The preset a `?state=` link carries; ConfigError for anything tampered, cut or oversized."""
    broken = "This link is damaged or incomplete (it may have been cut when copied)"
    if len(value) > LINK_MAX_CHARS:
        raise ConfigError(f"This link is too long ({len(value):,} characters; links hold {LINK_MAX_CHARS:,}).")
    if not value.startswith(LINK_VERSION):
        raise ConfigError(f"{broken}: it does not start with {LINK_VERSION!r}.")
    packed = value[len(LINK_VERSION) :]
    try:
        compressed = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4))
        inflate = zlib.decompressobj()
        data = inflate.decompress(compressed, LINK_MAX_BYTES + 1)
    except (binascii.Error, ValueError, zlib.error):
        raise ConfigError(f"{broken}.") from None
    if len(data) > LINK_MAX_BYTES or inflate.unconsumed_tail:
        raise ConfigError(f"This link unpacks to more than {LINK_MAX_BYTES:,} bytes, more than any real state; "
                          "it is not opened.")
    if not inflate.eof or inflate.unused_data:
        raise ConfigError(f"{broken}.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{broken}.") from None
    return parse_preset(text, source="The link's state")


def share_query(state: Preset, key: str | None = None, saved: Preset | None = None, space: str | None = None) -> str:
    """The link to a page state: `?preset=ID` when the page is exactly the saved preset `key` (`saved`
    is that preset as stored), else `?state=…` (the whole state). On a Hugging Face Space (`space`,
    e.g. "user/name"), the link points at the Space's page, which passes the query on to the app; a bare
    query is completed with the page's address by the browser."""
    query = f"?preset={key}" if key and saved == state else f"?state={encode_state(state)}"
    return f"https://huggingface.co/spaces/{space}{query}" if space else query


def ordered(found: dict[str, Preset]) -> list[tuple[str, Preset]]:
    """Featured presets first, then the rest by display name."""
    rank = {name: i for i, name in enumerate(FEATURED)}
    return sorted(found.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[1].name.lower()))


def to_json(preset: Preset) -> str:
    """Pretty JSON, leaving out what equals the defaults (a preset file that is easy to read)."""
    return json.dumps(preset.model_dump(mode="json", exclude_defaults=True), ensure_ascii=False, indent=2) + "\n"
