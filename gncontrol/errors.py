"""The error type for bad input: what a caller passed is outside what is allowed.

`InputError` is a `ValueError`, so code catching ValueError keeps working; the `gncontrol`
CLI turns it (and only it, with FileNotFoundError) into one line and exit 2, while any
other exception (an internal failure) keeps its traceback.
"""

from __future__ import annotations

__all__ = ["InputError", "check_at_least_one"]


class InputError(ValueError):
    """Bad input at a public boundary (an option, an argument, a file); the message says what is allowed."""


def check_at_least_one(**values: int) -> None:
    """Refuses any of the named counts that is not an integer >= 1 (bools included), naming it."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be an integer >= 1, got {value!r}")
