"""The error tree, and how library paths log an error they catch. Every message is safe to show a user
and says what to do next."""

from __future__ import annotations

import logging


class FewShotError(Exception):
    """Base of every error the playground shows to a user."""


class ConfigError(FewShotError):
    """A bad preset, bad settings or a bad share link."""


class PromptError(FewShotError):
    """An empty query, a prompt that does not parse, or one longer than the context."""


class BackendError(FewShotError):
    """The model backend failed. `backend` names it (e.g. "embedded", "tgi")."""

    def __init__(self, message: str, *, backend: str = "") -> None:
        super().__init__(message)
        self.backend = backend


class BackendUnavailable(BackendError):
    """Connection refused, DNS failure, timeout, model file missing."""


class BackendRejected(BackendError):
    """The backend answered 4xx: bad token, unknown model, validation."""

    def __init__(self, message: str, *, backend: str = "", status: int = 0, detail: str = "") -> None:
        super().__init__(message, backend=backend)
        self.status = status
        self.detail = detail


class BackendOverloaded(BackendError):
    """429 or 503: retry later. `retry_after` is in seconds when the backend said."""

    def __init__(self, message: str, *, backend: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, backend=backend)
        self.retry_after = retry_after


def log_failure(log: logging.Logger, what: str, exc: BaseException) -> None:
    """Log a failure where a library path catches it: an expected user error (a FewShotError, whose
    message already says what to do) as one line; anything else is a bug, logged with its traceback."""
    if isinstance(exc, FewShotError):
        log.warning("%s: %s", what, " ".join(str(exc).split()))
    else:
        log.error("%s: unexpected %s: %s", what, type(exc).__name__, exc, exc_info=exc)
