"""Per-episode physical parameter randomisation (for system identification).

All ranges live in `RANGES` (per domain, falling back to "default"): multiplicative
scales drawn uniformly per body (mass, with inertia scaled alike: same density), per dof
(damping) and per actuator (gear). They are written into the compiled MjModel in place
and followed by `mj_setConst` (subtree masses and constraint weights would be stale
otherwise; see platform.md), so `MujocoGraph.static_arrays()` reflects them. Call
`apply_parameters` BEFORE setting the episode's initial state (mj_setConst resets qpos).

Link lengths (recompiling through MjSpec) are not randomised yet: see docs/mujoco_graphs.md.
"""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np

__all__ = ["RANGES", "Nominal", "ranges_for", "sample_parameters", "apply_parameters"]

# (low, high) multiplicative scales of the nominal values; one place for every system.
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "default": {"mass": (0.75, 1.25), "damping": (0.75, 1.25), "gear": (0.75, 1.25)},
    "swimmer": {"mass": (0.75, 1.25), "damping": (0.5, 1.5), "gear": (0.75, 1.25)},
    "pendulum": {"mass": (0.5, 1.5), "damping": (0.5, 1.5), "gear": (0.75, 1.25)},
}


def ranges_for(task_name: str) -> dict[str, tuple[float, float]]:
    """The scale ranges of a task's domain (its name up to the first '-' or digit)."""
    domain = task_name.split("-")[0].rstrip("0123456789")
    return RANGES.get(domain, RANGES["default"])


@dataclasses.dataclass
class Nominal:
    """Copies of a model's nominal parameters, so scales always apply to the originals."""

    body_mass: np.ndarray
    body_inertia: np.ndarray
    dof_damping: np.ndarray
    actuator_gear: np.ndarray

    @staticmethod
    def of(model: mujoco.MjModel) -> Nominal:
        """Snapshot of `model`'s current (nominal) parameters."""
        return Nominal(model.body_mass.copy(), model.body_inertia.copy(), model.dof_damping.copy(),
                       model.actuator_gear.copy())


def sample_parameters(rng: np.random.Generator, model: mujoco.MjModel,
                      ranges: dict[str, tuple[float, float]]) -> dict[str, list[float]]:
    """Draws scales: mass [nbody] (world fixed at 1), damping [nv], gear [nu]; JSON-friendly lists."""
    def draw(key: str, n: int) -> np.ndarray:
        lo, hi = ranges.get(key, (1.0, 1.0))
        if lo > hi or lo <= 0:
            raise ValueError(f"bad {key} range {(lo, hi)}: need 0 < low <= high")
        return rng.uniform(lo, hi, size=n)

    mass = draw("mass", model.nbody)
    mass[0] = 1.0
    return {"mass_scale": mass.tolist(), "damping_scale": draw("damping", model.nv).tolist(),
            "gear_scale": draw("gear", model.nu).tolist()}


def apply_parameters(model: mujoco.MjModel, data: mujoco.MjData, nominal: Nominal,
                     params: dict[str, list[float]] | None) -> None:
    """Writes nominal x scales into `model` (None restores nominal) and calls mj_setConst."""
    ms = np.ones(model.nbody) if params is None else np.asarray(params["mass_scale"])
    ds = np.ones(model.nv) if params is None else np.asarray(params["damping_scale"])
    gs = np.ones(model.nu) if params is None else np.asarray(params["gear_scale"])
    model.body_mass[:] = nominal.body_mass * ms
    model.body_inertia[:] = nominal.body_inertia * ms[:, None]
    model.dof_damping[:] = nominal.dof_damping * ds
    model.actuator_gear[:] = nominal.actuator_gear
    model.actuator_gear[:, 0] = nominal.actuator_gear[:, 0] * gs
    mujoco.mj_setConst(model, data)
