"""Calibration of label-probability tables. Pure functions on (rows × labels) arrays.

Every method estimates the prompt's own bias as a prior over the labels and divides it out
(W = diag(prior)⁻¹, then renormalise each row):

- `contextual` — "Calibrate Before Use" (Zhao et al., 2021): the prior is the mean label
  distribution for the content-free inputs "N/A", "" and "[MASK]".
- `batch` — Batch Calibration (Zhou et al., ICLR 2024): the prior is the mean label distribution
  over the evaluated rows themselves; no labels are used.
- `domain` — Domain-context calibration (Fei et al., ACL 2023): the prior is the mean distribution
  for content-free inputs made of random in-domain words (see `domain_inputs`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from .errors import ConfigError

METHODS = ("none", "contextual", "batch", "domain")
CONTENT_FREE = ("N/A", "", "[MASK]")  # the paper's three content-free inputs
DOMAIN_INPUTS = 20  # random in-domain texts per prior (Fei et al. use 20)


def check_methods(methods: Sequence[str]) -> list[str]:
    """The methods as given, or ConfigError naming the unknown one."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"Unknown calibration {unknown[0]!r}: choose from {', '.join(METHODS)}.")
    return list(methods)


def needs_content_free(method: str) -> bool:
    """Whether `method` needs the label distributions of extra (content-free) inputs."""
    return method in ("contextual", "domain")


def normalise(probs: np.ndarray) -> np.ndarray:
    """Each row divided by its sum."""
    probs = np.asarray(probs, dtype=float)
    return probs / np.clip(probs.sum(axis=-1, keepdims=True), 1e-300, None)


def apply_prior(probs: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """diag(prior)⁻¹ · p for each row, renormalised."""
    return normalise(np.asarray(probs, dtype=float) / np.clip(np.asarray(prior, dtype=float), 1e-12, None))


def calibrate(method: str, probs: np.ndarray, content_free: np.ndarray | None = None) -> np.ndarray:
    """Calibrated copy of `probs` (n × L). `content_free` (m × L) is needed by contextual and domain."""
    probs = normalise(probs)
    if method == "none":
        return probs
    if method == "batch":
        return apply_prior(probs, probs.mean(axis=0))
    if method in ("contextual", "domain"):
        if content_free is None or len(content_free) == 0:
            raise ConfigError(f"{method} calibration needs the label distributions of content-free inputs.")
        return apply_prior(probs, normalise(content_free).mean(axis=0))
    raise ConfigError(f"Unknown calibration {method!r}: choose from {', '.join(METHODS)}.")


def domain_inputs(texts: Sequence[str], n: int = DOMAIN_INPUTS, seed: int = 0) -> list[str]:
    """`n` content-free inputs of random in-domain words, each as long as an average text.

    Fei et al. sample words uniformly from the unlabelled task corpus, so the inputs carry the
    domain's vocabulary but no label signal.
    """
    words = [w for t in texts for w in str(t).split()]
    if not words:
        raise ConfigError("Domain calibration needs texts with words to draw from.")
    length = max(1, round(len(words) / max(1, len(texts))))
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(length)) for _ in range(n)]


def predictions(probs: np.ndarray, labels: Sequence[str]) -> list[str]:
    """The likeliest label of each row (ties go to the first label)."""
    return [labels[i] for i in np.argmax(np.asarray(probs), axis=-1)]
