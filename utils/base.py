"""Helpers every layer shares: the error a user can fix, and how entry points report it.

Only the standard library is imported at module level: entry points import this before they
know whether they will train (heavy) or only print `--help` (instant).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class UserError(Exception):
    """A mistake the user can fix (a missing dataset, a bad name, a corrupt checkpoint).

    The message names the file or key at fault and says what to do. Entry points turn it into a
    one-line `error: ...` without a traceback (`exit_cleanly_on`), since a traceback would only
    bury the message. Each layer subclasses it: DataError, ExperimentError, CheckpointError...
    """


def exit_cleanly_on(*errors: type[Exception]) -> Callable:
    """Decorate an entry point: the given exceptions become `error: <message>` and exit status 1."""

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except Exception as error:  # noqa: BLE001  (re-raised unless it is one of `errors`)
                # A resolver of conf/ that refuses a value is re-raised by OmegaConf as its own
                # error, during the handling of ours: the message to show is ours.
                cause: BaseException | None = error
                while cause is not None and not isinstance(cause, errors):
                    wrapper = type(cause).__module__.split(".")[0] in ("omegaconf", "hydra")
                    cause = cause.__cause__ or (cause.__context__ if wrapper else None)
                if cause is None:
                    raise
                raise SystemExit(f"error: {cause}") from None

        return wrapper

    return decorate
