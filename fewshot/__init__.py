"""Few-shot playground library: prompts, settings, backends, grids and presets. Never imports gradio."""

from .backends.base import Backend, Completion, generate
from .errors import (
    BackendError,
    BackendOverloaded,
    BackendRejected,
    BackendUnavailable,
    ConfigError,
    FewShotError,
    PromptError,
)
from .grid import Cell, expand
from .presets import Preset
from .prompt import Example, FewShotPrompt, Template, parse
from .settings import GenerationSettings

__all__ = [
    "Backend",
    "BackendError",
    "BackendOverloaded",
    "BackendRejected",
    "BackendUnavailable",
    "Cell",
    "Completion",
    "ConfigError",
    "Example",
    "FewShotError",
    "FewShotPrompt",
    "GenerationSettings",
    "Preset",
    "PromptError",
    "Template",
    "expand",
    "generate",
    "parse",
]
