"""How a planner holds its settings: one frozen, keyword-only config dataclass per planner
(`CEMConfig`, `GradientConfig`, ...), checked when it is built, and the planner built from it.

    config = planners.CEMConfig(horizon=25, population=200, iterations=4)
    planner = planners.CEMPlanner(low, high, config)          # or planners.make("cem", bounds, config)
    planner = planners.CEMPlanner(low, high, horizon=25)      # keyword overrides of the default config
    planner.config.horizon == planner.horizon                 # fields read through the planner

A config holds plain settings only; what is not a setting (the device, a discrete action set,
a learned value function) is a keyword argument of the planner itself.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, TypeVar

import torch

from gncontrol.errors import InputError, check_at_least_one
from planners.base import Bounds

__all__ = ["ConfiguredPlanner", "configured", "check_at_least_one", "check_non_negative", "check_choice",
           "check_discount"]

C = TypeVar("C")


def configured(cls: type[C], config: C | None, overrides: dict[str, Any]) -> C:
    """`config` (default: `cls()`) with the keyword `overrides` replaced; refuses another
    planner's config and unknown fields in one line each."""
    if config is None:
        config = cls()
    elif not isinstance(config, cls):
        raise InputError(f"config must be a {cls.__name__}, got {type(config).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise InputError(f"unknown {cls.__name__} option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    return dataclasses.replace(config, **overrides) if overrides else config


class ConfiguredPlanner:
    """Base of the planners built from a frozen config: `self.config` (a `config_class`, or
    keyword overrides of its defaults), whose fields also read as attributes of the planner
    (`planner.horizon`) but cannot be set there (make a new config); `self.bounds`; `reset()`."""

    config_class: type
    config: Any

    def __init__(self, action_low: Any, action_high: Any, config: Any = None, *,
                 device: torch.device | str | None = None, **overrides: Any):
        self.config = configured(self.config_class, config, overrides)
        self.bounds = Bounds(action_low, action_high, device=device)
        self.reset()

    def reset(self) -> None:
        """Forgets any warm-start plan and reseeds the planner's generator."""
        self.plan_: torch.Tensor | None = None
        self.last_return: float | None = None
        self.reseed()

    def reseed(self) -> None:
        """A fresh generator seeded by config.seed, on the bounds' device."""
        self._gen = torch.Generator(device=self.bounds.low.device).manual_seed(self.config.seed)

    def __getattr__(self, name: str) -> Any:
        config = self.__dict__.get("config")
        if config is not None and name in {f.name for f in dataclasses.fields(config)}:
            return getattr(config, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        config = self.__dict__.get("config")
        if config is not None and name in {f.name for f in dataclasses.fields(config)}:
            raise AttributeError(f"{name} is a setting of {type(config).__name__}: build the planner with "
                                 f"{type(config).__name__}(..., {name}=...) instead")
        super().__setattr__(name, value)


def check_non_negative(**values: float) -> None:
    """Refuses any of the named settings that is negative or not finite, naming it."""
    for name, value in values.items():
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise InputError(f"{name} must be >= 0 and finite, got {value!r}")


def check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    """Refuses a setting outside its allowed values, naming both."""
    if value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def check_discount(discount: float) -> None:
    """Refuses a discount outside (0, 1]."""
    if not isinstance(discount, (int, float)) or not 0 < discount <= 1:
        raise InputError(f"discount must be in (0, 1], got {discount!r}")
