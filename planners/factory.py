"""ONE way to build a planner by name from common knobs: `planners.make(name, low, high, **knobs)`.

Why: the CLI, the benchmarks and the agents each translated their options into planner
constructors, with their own small differences. Here the shared knob names map onto each
planner's own arguments once:

    knob            gradient           cem                      mppi         random      mcts
    horizon         horizon            horizon                  horizon      horizon     max_depth, rollout_horizon
    iterations      iterations         iterations               iterations   -           -
    samples         -                  population               samples      samples     num_expansions
    elites          -                  elites (default: 10% of samples)
    restarts, lr, smoothness, warm_restarts, warm_noise, action_noise, noise_samples, warm_start,
    init_noise: gradient only; terminal_weight: gradient and cem; temperature, noise_std: mppi;
    momentum: cem; expand_width: mcts; discrete_actions: random and mcts.

A knob left at None takes the planner's own default; a knob the named planner does not use is
ignored (callers pass one set of options for every planner), except that an unknown knob name
is an InputError.
"""

from __future__ import annotations

from typing import Any

from gncontrol.errors import InputError
from planners.cem import CEMPlanner
from planners.gradient import GradientPlanner
from planners.mcts import MCTSPlanner
from planners.mppi import MPPIPlanner
from planners.random_shooting import RandomShootingPlanner

__all__ = ["make", "KNOBS"]

_GRADIENT_ONLY = ("restarts", "lr", "smoothness", "warm_restarts", "warm_noise", "action_noise", "noise_samples",
                  "warm_start", "init_noise")
KNOBS = ("horizon", "action_repeat", "seed", "device", "iterations", "samples", "elites", "terminal_weight",
         "temperature",
         "noise_std", "momentum", "expand_width", "discrete_actions", "discount") + _GRADIENT_ONLY


def make(name: str, low: Any, high: Any, **knobs: Any) -> Any:
    """The planner `name` (gradient, cem, mppi, random, mcts) for the action box [low, high] from common knobs."""
    unknown = sorted(set(knobs) - set(KNOBS))
    if unknown:
        raise InputError(f"unknown planner option(s) {', '.join(unknown)}; known: {', '.join(KNOBS)}")
    k = {key: v for key, v in knobs.items() if v is not None}

    def pick(*names: str, **renamed: str) -> dict:
        out = {n: k[n] for n in names if n in k}
        out.update({new: k[old] for new, old in renamed.items() if old in k})
        return out

    common = pick("horizon", "action_repeat", "seed", "device", "discount")
    if name == "gradient":
        return GradientPlanner(low, high, **common, **pick("iterations", "terminal_weight", *_GRADIENT_ONLY))
    if name == "cem":
        sizes = {"population": k["samples"], "elites": k.get("elites", max(2, k["samples"] // 10))} \
            if "samples" in k else pick("elites")
        return CEMPlanner(low, high, **common, **sizes, **pick("iterations", "terminal_weight", "momentum"))
    if name == "mppi":
        return MPPIPlanner(low, high, **common, **pick("iterations", "samples", "temperature", "noise_std"))
    if name == "random":
        return RandomShootingPlanner(low, high, **common, **pick("samples", "discrete_actions"))
    if name == "mcts":
        depth = {"max_depth": k["horizon"], "rollout_horizon": k["horizon"]} if "horizon" in k else {}
        rest = pick("action_repeat", "seed", "device", "discount", "expand_width", "discrete_actions",
                    num_expansions="samples")
        return MCTSPlanner(low, high, **depth, **rest)
    raise InputError(f"unknown planner {name!r}; known: gradient, cem, mppi, random, mcts")
