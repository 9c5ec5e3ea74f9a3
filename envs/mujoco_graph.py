"""Any MuJoCo model as graphs: a static graph of its parameters and a dynamic graph per step.

Works from an `MjModel` (`MujocoGraph(model)`), a dm_control `Physics`
(`MujocoGraph.from_physics`) or a Gymnasium MuJoCo env (`MujocoGraph.from_gym`); no
per-system code. The choices the paper leaves open, made deliberately:

- Nodes are ALL bodies, the world body included as node 0 (N = model.nbody). The world
  node's state is constant (origin, identity quaternion, zero velocity); keeping it gives
  every root joint a sender and makes world-fixed points (targets, anchors) expressible.
- Edges: one directed edge per joint, parent body -> child body (sender = parent). A body
  with several joints (the planar root: slide x, slide z, hinge y; a free joint is one
  joint) gets several parallel edges, each carrying its own joint's features and action.
  A non-world body without any joint gets one "fixed" edge from its parent, so the graph
  stays connected (E = njnt + jointless bodies, plus the tendon edges below). Models that
  want both directions add the reversed edges themselves (`senders`/`receivers` are exposed).
- Positions are absolute world coordinates here (no translation invariance imposed in the
  data); models normalise or make them relative (see gncontrol/body_state.py).
- Dynamic node features (13, in order): body-frame origin position `xpos` (3), orientation
  `xquat` w,x,y,z (4), linear velocity of the body-frame origin in world coordinates (3),
  angular velocity in world coordinates (3). Velocity of the ORIGIN (not the centre of
  mass) so that velocity is the time derivative of the position feature.
- Actuators on fixed tendons (a tendon that is a linear combination of joints: point_mass,
  quadruped's legs, dog's spine, fish's fins, the manipulator's grasp) get edges of their own:
  one per joint the tendon moves (a wrap of coefficient 0 moves none and gets none), parent ->
  child of that joint's body like the joint's own edge, with the joint's static features and the
  actuator's gear times the tendon's coefficient on that joint. So E = njnt + jointless bodies +
  those (actuator, joint) pairs.
  Actuators on spatial tendons or sites still drive no edge (envs.graph_coverage lists them).
- Dynamic edge features [E, 1]: the control of the actuator driving that edge (0 on unactuated
  and fixed edges). Dynamic globals are empty [B, 0].

Static features (names in `STATIC_*_FEATURES`): globals = timestep, gravity, wind,
magnetic, density, viscosity (12); nodes = mass, diagonal inertia, body pos/quat in its
parent, COM ipos/iquat, is-world flag (19); edges = joint type one-hot (free, ball, slide,
hinge, fixed), axis, anchor pos, limited, range, damping, stiffness, armature, frictionloss,
actuated flag, gear, ctrllimited, ctrlrange (23).

"The way back" for rewards and planners: torch helpers (`positions`, `rotations`,
`point_positions`, `subtree_com_velocity`, `hinge_velocity`, `slide_position`) turn a
(predicted) state [B, N, 13] into the quantities a task's reward uses, differentiably.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np
import torch

from gncontrol.body_state import ANCHOR_EDGE_COLUMNS
from gncontrol.device_constants import device_constant
from gncontrol.errors import InputError
from gncontrol.gn.graphs import Graph, tile
from gncontrol.systems import GraphSystem

__all__ = [
    "MujocoGraph", "STATE_SIZE", "STATIC_GLOBAL_FEATURES", "STATIC_NODE_FEATURES",
    "STATIC_EDGE_FEATURES", "JOINT_TYPES", "quat_to_mat", "states_from_graph", "position_mode",
    "positions_for",
]

STATE_SIZE = 13
JOINT_TYPES = ("free", "ball", "slide", "hinge", "fixed")
_MJ_TO_ONEHOT = {int(mujoco.mjtJoint.mjJNT_FREE): 0, int(mujoco.mjtJoint.mjJNT_BALL): 1,
                 int(mujoco.mjtJoint.mjJNT_SLIDE): 2, int(mujoco.mjtJoint.mjJNT_HINGE): 3}
FIXED = 4

STATIC_GLOBAL_FEATURES = ("timestep", "gravity_x", "gravity_y", "gravity_z", "wind_x", "wind_y",
                          "wind_z", "magnetic_x", "magnetic_y", "magnetic_z", "density", "viscosity")
STATIC_NODE_FEATURES = ("mass", "inertia_x", "inertia_y", "inertia_z", "pos_x", "pos_y", "pos_z",
                        "quat_w", "quat_x", "quat_y", "quat_z", "ipos_x", "ipos_y", "ipos_z",
                        "iquat_w", "iquat_x", "iquat_y", "iquat_z", "is_world")
STATIC_EDGE_FEATURES = tuple(f"type_{t}" for t in JOINT_TYPES) + (
    "axis_x", "axis_y", "axis_z", "anchor_x", "anchor_y", "anchor_z", "limited", "range_lo",
    "range_hi", "damping", "stiffness", "armature", "frictionloss", "actuated", "gear",
    "ctrllimited", "ctrl_lo", "ctrl_hi")


def quat_to_mat(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [..., 3, 3] from unit quaternions [..., 4] (w, x, y, z); differentiable."""
    w, x, y, z = q.unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]
    return torch.stack(rows, dim=-1).reshape(*q.shape[:-1], 3, 3)


def states_from_graph(state: Graph | torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Body states [B, N, 13] from a dynamic Graph (nodes [B*N, >=13]) or a [B, N, 13] tensor."""
    nodes = state.nodes if isinstance(state, Graph) else state
    if nodes.dim() == 3:
        if nodes.shape[1] != num_nodes or nodes.shape[2] < STATE_SIZE:
            raise InputError(f"states must be [B, {num_nodes}, {STATE_SIZE}], got {tuple(nodes.shape)}")
        return nodes[..., :STATE_SIZE]
    if nodes.dim() != 2 or nodes.shape[1] < STATE_SIZE or nodes.shape[0] % num_nodes:
        raise InputError(f"state nodes must be [B*{num_nodes}, {STATE_SIZE}], got {tuple(nodes.shape)}")
    return nodes[:, :STATE_SIZE].reshape(-1, num_nodes, STATE_SIZE)


def position_mode(static_edges: Any, senders: Any) -> str:
    """The forward models' x, y input mode for a system: "absolute" when a limited slide joint hangs a
    body from the world (cartpole's rail stops at +-1.8 m: the dynamics depend on where the cart is),
    else "relative" (translation invariant; gncontrol.body_state.relative_positions).

    `static_edges` [E, 23] (or [K, E, 23]: episodes of one topology) in STATIC_EDGE_FEATURES order,
    `senders` [E] local node indices (node 0 = the world).
    """
    edges = np.asarray(torch.as_tensor(static_edges).detach().cpu(), dtype=float).reshape(-1, len(STATIC_EDGE_FEATURES))
    send = np.asarray(torch.as_tensor(senders).cpu()).reshape(-1)
    anchor = send == 0  # the rule of gncontrol.body_state.anchored_graphs, on one system
    for c in ANCHOR_EDGE_COLUMNS:  # type_slide, limited
        anchor = anchor & (edges[: send.shape[0], c] > 0.5)
    return "absolute" if bool(np.any(anchor)) else "relative"


def positions_for(systems: Any, positions: str = "auto") -> str:
    """The x, y input mode of a model trained on `systems` (objects with static_edges and senders):
    `positions` itself unless "auto", which is the systems' common `position_mode`, or "per-system" when they
    differ (absolute x, y only in the graphs that need them: gncontrol.body_state.input_positions)."""
    if positions != "auto":
        return positions
    modes = {position_mode(s.static_edges[0], s.senders) for s in systems}
    return modes.pop() if len(modes) == 1 else "per-system"


class MujocoGraph:
    """Graph view of one compiled MuJoCo model: topology, static features, state read-out."""

    def __init__(self, model: mujoco.MjModel) -> None:
        """Builds the topology and static features from an `MjModel` (copies what it needs)."""
        if not isinstance(model, mujoco.MjModel):
            raise InputError(f"MujocoGraph needs a mujoco.MjModel, got {type(model).__name__}")
        m = model
        self.model = m
        self.num_nodes = int(m.nbody)
        self.action_dim = int(m.nu)
        senders, receivers, joint_of_edge, types = [], [], [], []

        def add_edge(b: int, j: int) -> None:
            senders.append(int(m.body_parentid[b])), receivers.append(b), joint_of_edge.append(j)
            types.append(FIXED if j < 0 else _MJ_TO_ONEHOT[int(m.jnt_type[j])])

        for b in range(1, m.nbody):
            jnts = range(int(m.body_jntadr[b]), int(m.body_jntadr[b]) + int(m.body_jntnum[b]))
            if len(jnts) == 0:
                add_edge(b, -1)
            for j in jnts:
                add_edge(b, j)
        # actuator -> edge incidence [E, A]; edge_actuator: first actuator driving each edge or -1
        drives: list[tuple[int, int, float]] = []  # (edge, actuator, coefficient)
        edge_of_joint = {int(j): e for e, j in enumerate(joint_of_edge) if j >= 0}
        for a in range(m.nu):
            kind, target = int(m.actuator_trntype[a]), int(m.actuator_trnid[a, 0])
            if kind == int(mujoco.mjtTrn.mjTRN_JOINT) and target in edge_of_joint:
                drives.append((edge_of_joint[target], a, 1.0))
            elif kind == int(mujoco.mjtTrn.mjTRN_TENDON):  # a fixed tendon: one edge per joint it moves
                for j, coef in _fixed_tendon_joints(m, target):
                    if coef == 0:  # a wrap the actuator does not move (point_mass's t1 lists root_y at 0): an
                        continue   # edge for it would carry the same control as the real one, undistinguished
                    add_edge(int(m.jnt_bodyid[j]), j)
                    drives.append((len(senders) - 1, a, coef))
        self.senders = np.asarray(senders, dtype=np.int64)
        self.receivers = np.asarray(receivers, dtype=np.int64)
        self.edge_joint = np.asarray(joint_of_edge, dtype=np.int64)
        self.edge_type = np.asarray(types, dtype=np.int64)
        self.num_edges = len(senders)
        incidence = np.zeros((self.num_edges, self.action_dim))
        self.edge_coefficient = np.ones(self.num_edges)  # a fixed tendon's coefficient on that joint, else 1
        for e, a, coef in drives:
            incidence[e, a] = 1.0
            self.edge_coefficient[e] = coef
        self.incidence = incidence
        self.actuators_without_edge = [a for a in range(m.nu) if not incidence[:, a].any()]  # spatial tendons, sites
        self.edge_actuator = np.array(
            [int(np.flatnonzero(r)[0]) if r.any() else -1 for r in incidence], dtype=np.int64)
        self._topology_cache: dict[Any, Graph] = {}
        self._rootid = np.asarray(m.body_rootid, dtype=np.int64)
        self._subtrees: dict[int, np.ndarray] = {}

    # ------------------------------------------------------------------ constructors
    @staticmethod
    def from_physics(physics: Any) -> MujocoGraph:
        """From a dm_control `Physics` (uses its underlying MjModel)."""
        return MujocoGraph(physics.model.ptr)

    @staticmethod
    def from_gym(env: Any) -> MujocoGraph:
        """From a Gymnasium MuJoCo env (e.g. `gym.make('HalfCheetah-v5')`)."""
        return MujocoGraph(env.unwrapped.model)

    # ---------------------------------------------------------------- static graph
    def static_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(nodes [N, 19], edges [E, 23], globals [12]) float64 static features of the model now."""
        m = self.model
        o = m.opt
        globals_ = np.concatenate([[o.timestep], o.gravity, o.wind, o.magnetic, [o.density, o.viscosity]])
        is_world = np.zeros((m.nbody, 1))
        is_world[0] = 1.0
        nodes = np.concatenate([m.body_mass[:, None], m.body_inertia, m.body_pos, m.body_quat,
                                m.body_ipos, m.body_iquat, is_world], axis=1)
        e = self.num_edges
        edges = np.zeros((e, len(STATIC_EDGE_FEATURES)))
        edges[np.arange(e), self.edge_type] = 1.0
        j = self.edge_joint
        has = j >= 0
        jj = j[has]
        dof = m.jnt_dofadr[jj]
        edges[has, 5:8] = m.jnt_axis[jj]
        edges[has, 8:11] = m.jnt_pos[jj]
        edges[has, 11] = m.jnt_limited[jj]
        edges[has, 12:14] = m.jnt_range[jj]
        edges[has, 14] = m.dof_damping[dof]
        edges[has, 15] = m.jnt_stiffness[jj]
        edges[has, 16] = m.dof_armature[dof]
        edges[has, 17] = m.dof_frictionloss[dof]
        act = self.edge_actuator
        on = act >= 0
        edges[on, 18] = 1.0
        edges[on, 19] = m.actuator_gear[act[on], 0] * self.edge_coefficient[on]
        edges[on, 20] = m.actuator_ctrllimited[act[on]]
        edges[on, 21:23] = m.actuator_ctrlrange[act[on]]
        return nodes, edges, globals_

    def static_graph(self, device: torch.device | str | None = None,
                     dtype: torch.dtype = torch.float32) -> Graph:
        """One static Graph (nodes [N, 19], edges [E, 23], globals [1, 12]) of the model's parameters."""
        nodes, edges, globals_ = self.static_arrays()
        t = lambda x: torch.as_tensor(x, dtype=dtype, device=device)  # noqa: E731
        return Graph.from_single(t(nodes), t(edges), t(globals_),
                                 torch.as_tensor(self.senders, device=device),
                                 torch.as_tensor(self.receivers, device=device))

    # ----------------------------------------------------------------- dynamic state
    def graph_system(self, device: torch.device | str | None = None,
                     dtype: torch.dtype = torch.float32) -> GraphSystem:
        """The one-graph GraphSystem (static graph + edge->actuator map) a GN model plans or rolls out with."""
        return GraphSystem.single(self.static_graph(device, dtype), self.edge_actuator, self.action_dim)

    def body_states(self, data: Any) -> np.ndarray:
        """Body states [N, 13] (pos, quat, origin linear velocity, angular velocity) of `data` now.

        `data` is an MjData (or a dm_control Physics / its .data). Needs positions and
        com velocities computed (after mj_forward, or dm_control's step, or mj_step1).
        """
        if hasattr(data, "data") and hasattr(data, "model"):  # dm_control Physics
            data = data.data
        d = getattr(data, "ptr", data)
        return self.body_states_from_arrays(d.xpos, d.xquat, d.cvel, d.subtree_com)

    def body_states_from_arrays(self, xpos: np.ndarray, xquat: np.ndarray, cvel: np.ndarray,
                                subtree_com: np.ndarray) -> np.ndarray:
        """Body states [..., N, 13] from raw MjData arrays [..., N, 3|4|6|3] (vectorised over time).

        Why: a collector copies these four arrays per step and converts a whole episode at once.
        The origin's linear velocity is cvel's linear part (at the root subtree's COM) moved
        to the body origin: lin + ang x (xpos - subtree_com[root]).
        """
        ang = cvel[..., :3]
        off = xpos - subtree_com[..., self._rootid, :]
        a0, a1, a2 = ang[..., 0], ang[..., 1], ang[..., 2]
        b0, b1, b2 = off[..., 0], off[..., 1], off[..., 2]
        out = np.empty(xpos.shape[:-1] + (STATE_SIZE,))
        out[..., 0:3] = xpos
        out[..., 3:7] = xquat
        out[..., 7] = cvel[..., 3] + a1 * b2 - a2 * b1
        out[..., 8] = cvel[..., 4] + a2 * b0 - a0 * b2
        out[..., 9] = cvel[..., 5] + a0 * b1 - a1 * b0
        out[..., 10:13] = ang
        return out

    def edge_actions(self, action: torch.Tensor) -> torch.Tensor:
        """Per-edge controls [B*E, 1] from actions [B, A] (differentiable; 0 on unactuated edges)."""
        if action.dim() != 2 or action.shape[1] != self.action_dim:
            raise InputError(f"action must be [B, {self.action_dim}], got {tuple(action.shape)}")
        inc = device_constant(self.incidence, action)
        return (action @ inc.T).reshape(-1, 1)

    def dynamic_graph(self, states: torch.Tensor, action: torch.Tensor) -> Graph:
        """B dynamic graphs: nodes [B*N, 13] from states [B, N, 13], edges [B*E, 1], globals [B, 0]."""
        if states.dim() != 3 or states.shape[1:] != (self.num_nodes, STATE_SIZE):
            raise InputError(f"states must be [B, {self.num_nodes}, {STATE_SIZE}], got {tuple(states.shape)}")
        b = states.shape[0]
        if action.shape[0] != b:
            raise InputError(f"states have batch {b} but action has {action.shape[0]}")
        key = (b, states.device)
        topo = self._topology_cache.get(key)
        if topo is None:
            one = Graph.from_single(
                states.new_zeros(self.num_nodes, 0), states.new_zeros(self.num_edges, 0),
                states.new_zeros(0), torch.as_tensor(self.senders, device=states.device),
                torch.as_tensor(self.receivers, device=states.device))
            topo = tile(one, b)
            if len(self._topology_cache) > 16:
                self._topology_cache.clear()
            self._topology_cache[key] = topo
        return topo.replace(nodes=states.reshape(b * self.num_nodes, STATE_SIZE),
                            edges=self.edge_actions(action.to(states.dtype)),
                            globals=states.new_zeros(b, 0))

    # ------------------------------------------------------------- the way back
    def _const(self, x: np.ndarray, like: torch.Tensor) -> torch.Tensor:
        return device_constant(x, like)

    def point_positions(self, states: torch.Tensor, body: int, local: np.ndarray) -> torch.Tensor:
        """World positions [B, 3] of a point fixed at `local` [3] in body `body`'s frame."""
        rot = quat_to_mat(states[:, body, 3:7])
        return states[:, body, 0:3] + rot @ self._const(local, states)

    def site_position(self, states: torch.Tensor, name: str) -> torch.Tensor:
        """World position [B, 3] of a named site (as `data.site_xpos`)."""
        i = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, name)
        if i < 0:
            raise InputError(f"model has no site named {name!r}")
        return self.point_positions(states, int(self.model.site_bodyid[i]), self.model.site_pos[i])

    def geom_position(self, states: torch.Tensor, name: str) -> torch.Tensor:
        """World position [B, 3] of a named geom (as `data.geom_xpos`)."""
        i = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, name)
        if i < 0:
            raise InputError(f"model has no geom named {name!r}")
        return self.point_positions(states, int(self.model.geom_bodyid[i]), self.model.geom_pos[i])

    def body_id(self, name: str) -> int:
        """Index of a named body (= its node index)."""
        i = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, name)
        if i < 0:
            raise InputError(f"model has no body named {name!r}")
        return int(i)

    def joint_id(self, name: str) -> int:
        """Index of a named joint."""
        i = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, name)
        if i < 0:
            raise InputError(f"model has no joint named {name!r}")
        return int(i)

    def subtree_com_velocity(self, states: torch.Tensor, body: int,
                             masses: np.ndarray | torch.Tensor | None = None) -> torch.Tensor:
        """Linear velocity [B, 3] of the centre of mass of `body`'s subtree (= subtreelinvel sensor).

        Uses the model's masses and COM offsets (or `masses` [N] if given, e.g. randomised).
        """
        m = self.model
        if body not in self._subtrees:
            self._subtrees[body] = np.array([b for b in range(m.nbody) if _in_subtree(m, b, body)])
        sub = self._subtrees[body]
        mass = self._const(m.body_mass if masses is None else masses, states)[sub]
        rot = quat_to_mat(states[:, sub, 3:7])
        r = rot @ self._const(m.body_ipos[sub], states)[..., None]
        v_com = states[:, sub, 7:10] + torch.cross(states[:, sub, 10:13], r[..., 0], dim=-1)
        return (v_com * mass[:, None]).sum(1) / mass.sum()

    def hinge_velocity(self, states: torch.Tensor, joint: int) -> torch.Tensor:
        """Angular speed [B] of a hinge joint (child minus parent angular velocity on its axis)."""
        m = self.model
        child = int(m.jnt_bodyid[joint])
        parent = int(m.body_parentid[child])
        axis = quat_to_mat(states[:, child, 3:7]) @ self._const(m.jnt_axis[joint], states)
        rel = states[:, child, 10:13] - states[:, parent, 10:13]
        return (rel * axis).sum(-1)

    def slide_position(self, states: torch.Tensor, joint: int) -> torch.Tensor:
        """Position [B] of a slide joint that is its body's first joint (qpos - qpos0 + ref).

        The child origin's displacement from its rest place in the parent frame, along the axis.
        """
        m = self.model
        child = int(m.jnt_bodyid[joint])
        parent = int(m.body_parentid[child])
        if int(m.body_jntadr[child]) != joint:
            raise InputError("slide_position supports only a body's first joint")
        rot_p = quat_to_mat(states[:, parent, 3:7])
        rest = states[:, parent, 0:3] + rot_p @ self._const(m.body_pos[child], states)
        body_rot = rot_p @ quat_to_mat(self._const(m.body_quat[child], states))
        axis = body_rot @ self._const(m.jnt_axis[joint], states)
        return ((states[:, child, 0:3] - rest) * axis).sum(-1) + float(m.qpos0[m.jnt_qposadr[joint]])


def _fixed_tendon_joints(m: mujoco.MjModel, t: int) -> list[tuple[int, float]]:
    """(joint, coefficient) of each wrap of tendon `t` when it is a fixed tendon (a linear combination of joints:
    its length is the sum of coef * joint position); [] for a spatial tendon."""
    wraps = range(int(m.tendon_adr[t]), int(m.tendon_adr[t]) + int(m.tendon_num[t]))
    if not all(int(m.wrap_type[w]) == int(mujoco.mjtWrap.mjWRAP_JOINT) for w in wraps):
        return []
    return [(int(m.wrap_objid[w]), float(m.wrap_prm[w])) for w in wraps]


def _in_subtree(m: mujoco.MjModel, b: int, root: int) -> bool:
    while b != root and b != 0:
        b = int(m.body_parentid[b])
    return b == root
