"""Per-episode physical parameter randomisation (for system identification).

All ranges live in `RANGES` (per domain, falling back to "default"): multiplicative
scales drawn uniformly per body (mass, with inertia scaled alike: same density), per dof
(damping) and per actuator (gear). They are written into the compiled MjModel in place
and followed by `mj_setConst` (subtree masses and constraint weights would be stale
otherwise; see platform.md), so `MujocoGraph.static_arrays()` reflects them. Call
`apply_parameters` BEFORE setting the episode's initial state (mj_setConst resets qpos).

Link lengths: a per-body scale of everything positioned in the body's frame (geom
fromto / pos and capsule half-lengths, sites, joint anchors, child body offsets; radii
kept), applied to the suite XML through `mujoco.MjSpec` and recompiled (~0.3 s, mostly
the skybox texture); `length_model(task, scales)` returns the compiled MjModel. The
recompile recomputes each body's centre of mass and inertia from its geoms (e.g. a
pendulum pole 1.3x longer: CoM 0.5 -> 0.65 m; a cartpole pole's inertia grows ~1.3^2, its
mass kept). A body with nothing off its frame's origin (cartpole's cart: box, pole anchor
and slider all at the origin) has no length: its scale stays 1 (a scale there would change
nothing, so it is not a parameter anyone could identify).

Gear is NOT randomised for pendulum and cartpole (scale 1), only for swimmer, cheetah and
other domains. Why: inertia scales with mass here, so a pendulum's motion depends on its
mass only through gear/inertia and damping/inertia; with the gear random too, mass is
unidentifiable by ANY method (a heavier pendulum with a stronger motor moves identically),
and cartpole's overall mass scale (cart + pole) is confounded with the gear likewise. With
gear fixed, masses, lengths and damping are each identifiable from motion under known
controls (pendulum: gravity term -> length, control term -> mass x length^2, damping term
-> damping), which is what the system-ID benchmark's linear probe asks for (issue 5).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import re

import mujoco
import numpy as np

from envs.specs import compile_spec
from gncontrol.errors import InputError

__all__ = ["RANGES", "Nominal", "ranges_for", "override_ranges", "sample_parameters", "apply_parameters",
           "sample_lengths", "has_length", "suite_spec", "scale_lengths", "length_model"]

# (low, high) multiplicative scales of the nominal values; one place for every system.
# Gear fixed (1, 1) for pendulum and cartpole: see the module docstring (mass vs gear confound).
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "default": {"mass": (0.75, 1.25), "damping": (0.75, 1.25), "gear": (0.75, 1.25), "length": (0.8, 1.2)},
    "swimmer": {"mass": (0.75, 1.25), "damping": (0.5, 1.5), "gear": (0.75, 1.25), "length": (0.8, 1.2)},
    "pendulum": {"mass": (0.5, 1.5), "damping": (0.5, 1.5), "gear": (1.0, 1.0), "length": (0.7, 1.3)},
    "cartpole": {"mass": (0.75, 1.25), "damping": (0.75, 1.25), "gear": (1.0, 1.0), "length": (0.8, 1.2)},
    # a Gymnasium env's or a user's MJCF: masses, damping and gears only (lengths need the suite's XML)
    "generic": {"mass": (0.75, 1.25), "damping": (0.75, 1.25), "gear": (0.75, 1.25)},
}


def _check_range(key: str, lo: float, hi: float) -> None:
    """One-line ValueError unless 0 < lo <= hi (a multiplicative scale range)."""
    if not 0 < lo <= hi:
        raise InputError(f"bad {key} range {(lo, hi)}: need 0 < low <= high")


def _suite_name(task_name: str) -> str:
    """A registered-style name of a dm_control task: "dmc:hopper-hop" -> "hopper-hop",
    "dmc:swimmer-swimmer8" -> "swimmer8"; other names unchanged."""
    name = task_name[4:] if task_name.startswith("dmc:") else task_name
    return name[8:] if name.startswith("swimmer-swimmer") else name


def _domain(task_name: str) -> str:
    """A task's domain: its name up to the first '-' or digit ("swimmer6-..." -> "swimmer"); "generic" for a
    gym: or xml: model (no suite XML to rescale lengths in)."""
    if task_name.startswith(("gym:", "xml:")):
        return "generic"
    return _suite_name(task_name).split("-")[0].rstrip("0123456789")


def ranges_for(task_name: str) -> dict[str, tuple[float, float]]:
    """The scale ranges of a task's domain (its name up to the first '-' or digit)."""
    return RANGES.get(_domain(task_name), RANGES["default"])


def override_ranges(task_name: str, **ranges: tuple[float, float]) -> None:
    """Replaces some of a domain's ranges in this process, e.g. `override_ranges("cartpole", mass=(0.5, 3))`.

    A key "mass[j]" gives body j its own mass range (`**{"mass[2]": (0.5, 3)}`: cartpole's pole only).
    For experiments (benchmarks' `--mass-range`); data collected afterwards records its scales as usual.
    """
    unknown = {k for k in ranges if k not in RANGES["default"] and not re.fullmatch(r"mass\[[1-9]\d*\]", k)}
    if unknown:
        raise InputError(f"unknown range(s) {sorted(unknown)}; known: {sorted(RANGES['default'])} and mass[j], j >= 1")
    for key, (lo, hi) in ranges.items():
        _check_range(key, lo, hi)
    RANGES[_domain(task_name)] = {**ranges_for(task_name), **{k: tuple(v) for k, v in ranges.items()}}


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
        _check_range(key, lo, hi)
        return rng.uniform(lo, hi, size=n)

    mass = draw("mass", model.nbody)
    mass[0] = 1.0
    for j in range(1, model.nbody):  # a body's own range, "mass[j]", where one is given (override_ranges)
        if f"mass[{j}]" in ranges:
            mass[j] = draw(f"mass[{j}]", 1)[0]
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


def has_length(model: mujoco.MjModel) -> np.ndarray:
    """[nbody] bool: the body's frame holds something off its origin that a length scale would move.

    Geom positions and capsule/cylinder half-lengths, site and joint positions, child body
    offsets; a body with none of them (cartpole's cart) is unchanged by `scale_lengths`.
    """
    out = np.zeros(model.nbody, dtype=bool)
    long_geom = np.isin(model.geom_type, [mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_CYLINDER])
    for ids, vec in ((model.geom_bodyid, np.abs(model.geom_pos).sum(1) + long_geom * model.geom_size[:, 1]),
                     (model.site_bodyid, np.abs(model.site_pos).sum(1)),
                     (model.jnt_bodyid, np.abs(model.jnt_pos).sum(1)),
                     (model.body_parentid[1:], np.abs(model.body_pos[1:]).sum(1))):
        np.logical_or.at(out, ids[vec > 1e-12], True)
    out[0] = False
    return out


def sample_lengths(rng: np.random.Generator, model: mujoco.MjModel,
                   ranges: dict[str, tuple[float, float]]) -> list[float] | None:
    """Per-body length scales [nbody] (1 for the world and bodies without length), or None if no "length" range."""
    if "length" not in ranges:
        return None
    lo, hi = ranges["length"]
    _check_range("length", lo, hi)
    scales = rng.uniform(lo, hi, size=model.nbody)
    scales[~has_length(model)] = 1.0
    return scales.tolist()


def _suite_xml(task_name: str) -> str:
    """The dm_control suite XML of a task's domain with its <include>s inlined (for MjSpec)."""
    from dm_control.suite import common

    domain = _suite_name(task_name).split("-")[0]
    if domain.startswith("swimmer"):
        xml, _ = importlib.import_module("dm_control.suite.swimmer").get_model_and_assets(int(domain[7:]))
    else:
        xml, _ = importlib.import_module(f"dm_control.suite.{domain}").get_model_and_assets()
    xml = xml.decode() if isinstance(xml, bytes) else xml
    assets = {k.replace("./", ""): (v.decode() if isinstance(v, bytes) else v) for k, v in common.ASSETS.items()}

    def inline(match: re.Match) -> str:
        body = assets[match.group(1).replace("./", "")]
        return re.search(r"<mujoco[^>]*>(.*)</mujoco>", body, re.S).group(1)

    xml = re.sub(r"<\?xml[^>]*\?>", "", xml)
    return re.sub(r'<include\s+file="([^"]+)"\s*/>', inline, xml)


def suite_spec(task_name: str) -> mujoco.MjSpec:
    """A fresh MjSpec of the task's suite model (dm_control's includes inlined)."""
    return mujoco.MjSpec.from_string(_suite_xml(task_name))


def scale_lengths(spec: mujoco.MjSpec, scales: list[float]) -> mujoco.MjSpec:
    """Scales each body's frame contents by scales[body id] (positions, not radii); returns spec."""
    bodies = list(spec.bodies)  # world first, in compile order (= body ids)
    if len(bodies) != len(scales):
        raise InputError(f"{len(scales)} length scales for {len(bodies)} bodies")
    for body, s in zip(bodies, scales):
        if s == 1.0:
            continue
        for geom in body.geoms:
            if not np.isnan(geom.fromto[0]):
                geom.fromto = np.asarray(geom.fromto) * s
            else:
                geom.pos = np.asarray(geom.pos) * s
                if geom.type in (mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_CYLINDER):
                    size = np.asarray(geom.size, dtype=float)
                    size[1] *= s
                    geom.size = size
        for site in body.sites:
            site.pos = np.asarray(site.pos) * s
        for joint in body.joints:
            joint.pos = np.asarray(joint.pos) * s
        for child in body.bodies:
            child.pos = np.asarray(child.pos) * s
    return spec


@functools.lru_cache(maxsize=4)
def length_model(task_name: str, scales: tuple[float, ...]) -> mujoco.MjModel:
    """The task's model with link lengths scaled (compiled through MjSpec; cached)."""
    return compile_spec(scale_lengths(suite_spec(task_name), list(scales)))
