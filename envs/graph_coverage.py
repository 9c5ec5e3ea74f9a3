"""What a body graph leaves out of a MuJoCo model, so a user knows what a model or reward cannot see.

The body graph (envs.mujoco_graph) carries every body's pose and velocity, every joint (type,
axis, range, damping, ...) and the actuators on joints. `omissions(graph)` lists, in one line
each, the parts of the model it does not carry:

- tendons (their lengths and velocities are not state features; an actuator on a fixed tendon
  drives tendon edges, envs.mujoco_graph);
- actuators on spatial tendons or sites (no edge carries their control: the model never sees them);
- mocap bodies (their commanded poses come from outside the dynamics);
- equality constraints (welds, connects, joint couplings: the model must infer them);
- world-body geoms and sites other than planes (targets the env may move per episode: a reward
  can take them as arguments, the dynamics model does not see them);
- contacts (inferred by the model from the bodies' poses only, as the paper does).

Shown by `gncontrol tasks --show TASK`; docs/mujoco_graphs.md has the table for the whole suite.
"""

from __future__ import annotations

import mujoco

from envs.mujoco_graph import MujocoGraph

__all__ = ["omissions"]


def _name(model: mujoco.MjModel, kind: mujoco.mjtObj, i: int) -> str:
    return mujoco.mj_id2name(model, kind, i) or f"#{i}"


def omissions(graph: MujocoGraph) -> list[str]:
    """One line per part of the graph's model that the body graph does not carry (see the module doc); [] when none."""
    m = graph.model
    out = []
    if m.ntendon:
        names = ", ".join(_name(m, mujoco.mjtObj.mjOBJ_TENDON, i) for i in range(m.ntendon))
        out.append(f"{m.ntendon} tendon(s) ({names}): lengths and velocities not in the state")
    off_joint = graph.actuators_without_edge
    if off_joint:
        out.append(f"{len(off_joint)} of {m.nu} actuator(s) on spatial tendons or sites "
                   f"({', '.join(_name(m, mujoco.mjtObj.mjOBJ_ACTUATOR, a) for a in off_joint)}): drive no edge, "
                   "so the dynamics model never sees these controls")
    if m.nmocap:
        out.append(f"{m.nmocap} mocap body(ies): commanded poses come from outside the dynamics")
    if m.neq:
        out.append(f"{m.neq} equality constraint(s): inferred by the model, not given")
    plane = int(mujoco.mjtGeom.mjGEOM_PLANE)
    world_geoms = [_name(m, mujoco.mjtObj.mjOBJ_GEOM, g) for g in range(m.ngeom)
                   if int(m.geom_bodyid[g]) == 0 and int(m.geom_type[g]) != plane]
    world_sites = [_name(m, mujoco.mjtObj.mjOBJ_SITE, s) for s in range(m.nsite) if int(m.site_bodyid[s]) == 0]
    if world_geoms or world_sites:
        things = [f"geom {g}" for g in world_geoms] + [f"site {s}" for s in world_sites]
        out.append(f"world-body {', '.join(things[:6])}{' ...' if len(things) > 6 else ''}: not in the graph "
                   "(fixed scenery is harmless; a target the env moves per episode is invisible to the model)")
    colliding = [g for g in range(m.ngeom) if m.geom_contype[g] or m.geom_conaffinity[g]]
    if len({int(m.geom_bodyid[g]) for g in colliding}) > 1:
        out.append("contacts: inferred from the bodies' poses only (no contact forces in the state)")
    return out
