"""argparse `type=` functions for the CLI's numeric and device options.

A bad value gets argparse's own one-line error ("argument --x: must be ...") and exit 2,
before any work starts. Every float type refuses NaN and inf. The same functions check the
values of a `--config` file (`gncontrol.cli._common.config_defaults`), which arrive as JSON
numbers rather than strings, so each takes a str or a number (never a bool).
"""

from __future__ import annotations

import argparse
import json
import math
import re

__all__ = ["DEVICE_FORMS", "LR_MAX", "device", "finite_float", "float_in", "fraction", "int_at_least",
           "json_list", "learning_rate", "nonnegative_float", "nonnegative_int", "positive_float", "positive_int"]

LR_MAX = 10.0  # learning rates above this diverge for every model here; the bound catches typos like 1e30
DEVICE_FORMS = "cpu, cuda, cuda:N or mps"
_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def _fail(message: str):
    raise argparse.ArgumentTypeError(message)


def _as_int(value) -> int:
    if isinstance(value, bool):
        _fail(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        _fail(f"expected an integer, got {value!r}")
    try:
        return int(str(value).strip())
    except ValueError:
        _fail(f"expected an integer, got {value!r}")


def _as_float(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        _fail(f"expected a number, got {value!r}")
    try:
        return float(value)
    except ValueError:
        _fail(f"expected a number, got {value!r}")


def int_at_least(low: int):
    """An integer type refusing values below `low` (e.g. int_at_least(1) for counts and sizes)."""

    def parse(value) -> int:
        n = _as_int(value)
        if n < low:
            _fail(f"must be an integer >= {low}, got {n}")
        return n

    parse.__name__ = f"int>={low}"
    parse.numeric = True
    return parse


def float_in(low: float = -math.inf, high: float = math.inf, low_open: bool = False, high_open: bool = False):
    """A finite float type in [low, high], each end excluded where `*_open` (NaN and inf always refused)."""
    lo_s = "(" if low_open else "["
    hi_s = ")" if high_open else "]"
    if math.isinf(low) and math.isinf(high):
        what = "a finite number"
    elif math.isinf(high):
        what = f"a finite number {'>' if low_open else '>='} {low:g}"
    elif math.isinf(low):
        what = f"a number {'<' if high_open else '<='} {high:g}"
    else:
        what = f"a number in {lo_s}{low:g}, {high:g}{hi_s}"

    def parse(value) -> float:
        x = _as_float(value)
        ok = math.isfinite(x) and (x > low if low_open else x >= low) and (x < high if high_open else x <= high)
        if not ok:
            _fail(f"must be {what}, got {value!r}" if isinstance(value, str) else f"must be {what}, got {x!r}")
        return x

    parse.__name__ = f"float{lo_s}{low:g},{high:g}{hi_s}"
    parse.numeric = True
    return parse


def fraction(lo_open: bool = False, hi_open: bool = True):
    """A float in [0, 1], 0 excluded where `lo_open` and 1 where `hi_open` (default [0, 1))."""
    return float_in(0.0, 1.0, lo_open, hi_open)


positive_int = int_at_least(1)
positive_int.__doc__ = "An integer >= 1 (counts, sizes, steps, intervals)."
nonnegative_int = int_at_least(0)
nonnegative_int.__doc__ = "An integer >= 0 (seeds, indices, counts where 0 means off)."
positive_float = float_in(0.0, low_open=True)
positive_float.__doc__ = "A finite float > 0."
nonnegative_float = float_in(0.0)
nonnegative_float.__doc__ = "A finite float >= 0 (weights and noise levels where 0 means off)."
finite_float = float_in()
finite_float.__doc__ = "Any finite float (NaN and inf refused)."
learning_rate = float_in(0.0, LR_MAX, low_open=True)
learning_rate.__doc__ = f"A learning rate: a finite float in (0, {LR_MAX:g}]."


def json_list(element):
    """A JSON list whose every element passes `element` (e.g. json_list(positive_int) for '[2, 2]')."""

    def parse(value) -> list:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                _fail(f"expected a JSON list such as [2, 2], got {value!r}")
        if not isinstance(value, list):
            _fail(f"expected a JSON list such as [2, 2], got {value!r}")
        try:
            return [element(v) for v in value]
        except argparse.ArgumentTypeError as exc:
            _fail(f"list element {exc}")

    parse.__name__ = f"list[{getattr(element, '__name__', 'value')}]"
    parse.numeric = True
    return parse


def device(value) -> str:
    """A torch device name: cpu, cuda, cuda:N or mps (availability is checked by resolve_device)."""
    text = str(value).strip() if isinstance(value, str) else None
    if text is None or not _DEVICE.match(text):
        _fail(f"unknown device {value!r}: expected {DEVICE_FORMS}")
    return text
