"""ONE way to build a planner by name: `planners.make(name, bounds, config)`, used by the CLI,
the benchmarks and the agents.

    planners.make("cem", bounds, planners.CEMConfig(horizon=25, population=200))
    planners.make("cem", (low, high), horizon=25, samples=200)   # common knobs, below

`config` is that planner's own frozen config (CONFIGS[name]). Callers that hold one set of
options for every planner (a command line) pass common knobs instead, mapped once here onto
each planner's fields by `config_from_knobs`:

    knob            gradient           cem                      mppi         random      mcts
    horizon         horizon            horizon                  horizon      horizon     max_depth, rollout_horizon
    iterations      iterations         iterations               iterations   -           -
    samples         -                  population               samples      samples     num_expansions
    elites          -                  elites (default: 10% of samples)
    restarts, lr, smoothness, warm_restarts, warm_noise, action_noise, noise_samples, warm_start,
    init_noise: gradient only; terminal_weight: gradient and cem; temperature, noise_std: mppi;
    momentum, keep_elites, noise_beta (iCEM): cem; expand_width: mcts.

A knob left at None takes the planner's own default; a knob the named planner does not use is
ignored (one set of options serves every planner), except that an unknown knob name is an
InputError. Knobs given with a config override its fields.
"""

from __future__ import annotations

from typing import Any

from gncontrol.errors import InputError
from planners.base import Bounds
from planners.cem import CEMConfig, CEMPlanner
from planners.config import configured
from planners.gradient import GradientConfig, GradientPlanner
from planners.mcts import MCTSPlanner, MCTSPlannerConfig
from planners.mppi import MPPIConfig, MPPIPlanner
from planners.random_shooting import RandomShootingConfig, RandomShootingPlanner

__all__ = ["make", "config_from_knobs", "CONFIGS", "KNOBS"]

PLANNERS = {"gradient": GradientPlanner, "cem": CEMPlanner, "mppi": MPPIPlanner, "random": RandomShootingPlanner,
            "mcts": MCTSPlanner}
CONFIGS = {"gradient": GradientConfig, "cem": CEMConfig, "mppi": MPPIConfig, "random": RandomShootingConfig,
           "mcts": MCTSPlannerConfig}

_GRADIENT_ONLY = ("restarts", "lr", "smoothness", "warm_restarts", "warm_noise", "action_noise", "noise_samples",
                  "warm_start", "init_noise", "cuda_graph")
KNOBS = ("horizon", "action_repeat", "seed", "iterations", "samples", "elites", "terminal_weight", "temperature",
         "noise_std", "momentum", "keep_elites", "noise_beta", "expand_width", "discount") + _GRADIENT_ONLY


def _check_name(name: str) -> None:
    if name not in PLANNERS:
        raise InputError(f"unknown planner {name!r}; known: {', '.join(PLANNERS)}")


def _fields(name: str, k: dict[str, Any]) -> dict[str, Any]:
    """The named planner's config fields from the (non-None) common knobs `k`."""

    def pick(*names: str, **renamed: str) -> dict:
        out = {n: k[n] for n in names if n in k}
        out.update({new: k[old] for new, old in renamed.items() if old in k})
        return out

    common = pick("horizon", "action_repeat", "seed", "discount")
    if name == "gradient":
        return {**common, **pick("iterations", "terminal_weight", *_GRADIENT_ONLY)}
    if name == "cem":
        sizes = {"population": k["samples"], "elites": k.get("elites", max(2, k["samples"] // 10))} \
            if "samples" in k else pick("elites")
        return {**common, **sizes, **pick("iterations", "terminal_weight", "momentum", "keep_elites", "noise_beta")}
    if name == "mppi":
        return {**common, **pick("iterations", "samples", "temperature", "noise_std")}
    if name == "random":
        return {**common, **pick("samples")}
    depth = {"max_depth": k["horizon"], "rollout_horizon": k["horizon"]} if "horizon" in k else {}
    return {**depth, **pick("action_repeat", "seed", "discount", "expand_width", num_expansions="samples")}


def config_from_knobs(name: str, base: Any = None, **knobs: Any) -> Any:
    """The config of planner `name` (`base`, default CONFIGS[name]()) with the common knobs applied."""
    _check_name(name)
    unknown = sorted(set(knobs) - set(KNOBS))
    if unknown:
        raise InputError(f"unknown planner option(s) {', '.join(unknown)}; known: {', '.join(KNOBS)}")
    return configured(CONFIGS[name], base, _fields(name, {key: v for key, v in knobs.items() if v is not None}))


def make(name: str, bounds: Bounds | tuple[Any, Any], config: Any = None, *, device: Any = None,
         discrete_actions: Any = None, value_fn: Any = None, **knobs: Any) -> Any:
    """The planner `name` (gradient, cem, mppi, random, mcts) for the action box `bounds`
    (a Bounds or (low, high)) from its config and/or common knobs; `discrete_actions` [K, A]
    (random, mcts) and `value_fn` (mcts) are passed on to the planners that take them."""
    config = config_from_knobs(name, config, **knobs)
    low, high = (bounds.low, bounds.high) if isinstance(bounds, Bounds) else bounds
    extra: dict[str, Any] = {}
    if name in ("random", "mcts") and discrete_actions is not None:
        extra["discrete_actions"] = discrete_actions
    if name == "mcts" and value_fn is not None:
        extra["value_fn"] = value_fn
    return PLANNERS[name](low, high, config, device=device, **extra)
