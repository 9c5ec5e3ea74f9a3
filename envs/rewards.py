"""Task rewards in torch from body states, equal to dm_control's own rewards on true states.

Each builder takes the system's `MujocoGraph` (for the model constants: site/geom offsets,
masses, joint axes) and task arguments, and returns `reward(state, action) -> [B]` where
`state` is a dynamic Graph (nodes [B*N, 13] in body order) or a [B, N, 13] tensor and
`action` is [B, A]. Everything is differentiable torch; dm_control's rewards are
reproduced formula for formula (see dm_control/suite/<domain>.py, get_reward).

Note: pendulum-swingup and reacher-easy are sparse in dm_control (margin 0: an
indicator), so their gradient is zero almost everywhere; a gradient planner needs a
shaped reward there (`pendulum-swingup-smooth`, `reacher-easy-smooth`, `finger-spin-smooth`
registered in envs/tasks.py; a sampling planner needs them too where the sparse reward is zero
everywhere it can see). point_mass's own reward has a margin already (a wider one, tried, made
the true-model CEM worse: 51.5 against 131 over 200 steps). ball_in_cup-catch and finger-turn are sparse too
(no smooth variant yet); their twins return the indicator with an exact zero gradient on the state.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import numpy as np
import torch

from envs.mujoco_graph import MujocoGraph, quat_to_mat, states_from_graph
from gncontrol.device_constants import device_constant
from gncontrol.errors import InputError
from gncontrol.gn.graphs import Graph

RewardFn = Callable[[Graph | torch.Tensor, torch.Tensor], torch.Tensor]

__all__ = ["tolerance", "RewardFn", "REWARD_BUILDERS", "build_reward", "cartpole_factors", "cartpole_reward_of"]


def _sigmoid(x: torch.Tensor, value_at_1: float, kind: str) -> torch.Tensor:
    if kind == "gaussian":
        scale = math.sqrt(-2 * math.log(value_at_1))
        return torch.exp(-0.5 * (x * scale) ** 2)
    if kind == "long_tail":
        scale = math.sqrt(1 / value_at_1 - 1)
        return 1 / ((x * scale) ** 2 + 1)
    # linear / quadratic: written `>= 1 -> 0` so a NaN distance stays NaN (NaN < 1 is False: it was 0)
    if kind == "linear":
        sx = x * (1 - value_at_1)
        return torch.where(sx.abs() >= 1, torch.zeros_like(sx), 1 - sx)
    if kind == "quadratic":
        sx = x * math.sqrt(1 - value_at_1)
        return torch.where(sx.abs() >= 1, torch.zeros_like(sx), 1 - sx**2)
    raise InputError(f"unknown sigmoid {kind!r}; known: gaussian, long_tail, linear, quadratic")


def tolerance(x: torch.Tensor, bounds: tuple[float, float] = (0.0, 0.0), margin: float = 0.0,
              sigmoid: str = "gaussian", value_at_margin: float = 0.1) -> torch.Tensor:
    """dm_control's `rewards.tolerance` in torch: 1 inside bounds, a sigmoid of distance outside.

    Written with the clamped distance outside the bounds so infinite bounds give finite
    gradients (no NaN from the unused branch). A NaN `x` gives NaN (never a plausible 0 or 1),
    so a planner ranks a diverged rollout last (planners.base.finite_or_worst).
    """
    lower, upper = bounds
    if lower > upper:
        raise InputError("tolerance: lower bound must be <= upper bound")
    if margin == 0:
        inside = ((x >= lower) & (x <= upper)).to(x.dtype)
        return torch.where(torch.isnan(x), x.detach(), inside)  # a step function: no gradient, as before
    d = (torch.clamp(lower - x, min=0) + torch.clamp(x - upper, min=0)) / margin
    return _sigmoid(d, value_at_margin, sigmoid)


def _zz(states: torch.Tensor, body: int) -> torch.Tensor:
    """xmat[body, 'zz'] [B] from the quaternion (1 - 2(x^2 + y^2))."""
    q = states[:, body, 3:7]
    return 1 - 2 * (q[:, 1] ** 2 + q[:, 2] ** 2)


# ----------------------------------------------------------------------------- builders
def pendulum_swingup(g: MujocoGraph, smooth: bool = False) -> RewardFn:
    """tolerance(pole zz, (cos 8 deg, 1)); `smooth` adds a margin of 1 for gradient planners."""
    pole = g.body_id("pole")
    lo = float(np.cos(np.deg2rad(8)))

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        return tolerance(_zz(s, pole), (lo, 1.0), margin=1.0 if smooth else 0.0)
    return reward


def cartpole_factors(g: MujocoGraph) -> Callable[[Graph | torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]:
    """The four factors [B] of dm_control's cartpole reward (upright, centered, small_control,
    small_velocity), each in (0, 1]; the reward is their product (diagnostics: where a return goes)."""
    poles = [b for b in range(g.num_nodes) if (g.model.body(b).name or "").startswith("pole")]
    slider = g.joint_id("slider")
    hinges = [j for j in range(g.model.njnt) if j != slider]

    def factors(state, action):
        s = states_from_graph(state, g.num_nodes)
        ang = torch.stack([g.hinge_velocity(s, j) for j in hinges], -1)
        return {
            "upright": ((torch.stack([_zz(s, p) for p in poles], -1) + 1) / 2).mean(-1),
            "centered": (1 + tolerance(g.slide_position(s, slider), margin=2)) / 2,
            "small_control": (4 + tolerance(action[:, 0].to(s.dtype), margin=1, value_at_margin=0,
                                            sigmoid="quadratic")) / 5,
            "small_velocity": (1 + tolerance(ang, margin=5).min(-1).values) / 2,
        }
    return factors


def cartpole_reward_of(f: dict[str, torch.Tensor]) -> torch.Tensor:
    """[B] dm_control's cartpole reward from `cartpole_factors`' dict: the product of the four."""
    return f["upright"] * f["small_control"] * f["small_velocity"] * f["centered"]


def cartpole(g: MujocoGraph) -> RewardFn:
    """Smooth cartpole reward: upright * centered * small control * small velocity."""
    factors = cartpole_factors(g)

    def reward(state, action):
        return cartpole_reward_of(factors(state, action))
    return reward


def acrobot_swingup(g: MujocoGraph) -> RewardFn:
    """tolerance(|tip - target|, (0, target radius), margin=1)."""
    m = g.model
    target = m.site("target")
    radius = float(target.size[0])

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        d = (g.site_position(s, "target") - g.site_position(s, "tip")).norm(dim=-1)
        return tolerance(d, (0.0, radius), margin=1.0)
    return reward


def swimmer(g: MujocoGraph, target: tuple[float, float] | None = None) -> RewardFn:
    """tolerance(|nose->target in head frame, xy|, (0, size), 5 size, long_tail); any target xy."""
    m = g.model
    geom = m.geom("target")
    size = float(geom.size[0])
    tpos = np.array(geom.pos, dtype=float)
    if target is not None:
        tpos[:2] = target
    head = g.body_id("head")

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        vec = device_constant(tpos, s) - g.geom_position(s, "nose")
        local = (vec[:, None, :] @ quat_to_mat(s[:, head, 3:7]))[:, 0, :2]
        return tolerance(local.norm(dim=-1), (0.0, size), margin=5 * size, sigmoid="long_tail")
    return reward


def cheetah(g: MujocoGraph, direction: float = 1.0) -> RewardFn:
    """tolerance(direction * torso subtree COM x-velocity, (10, inf), margin 10, linear, 0)."""
    torso = g.body_id("torso")

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        speed = direction * g.subtree_com_velocity(s, torso)[:, 0]
        return tolerance(speed, (10.0, float("inf")), margin=10.0, value_at_margin=0, sigmoid="linear")
    return reward


def cheetah_jump(g: MujocoGraph) -> RewardFn:
    """Our alternative: tolerance(COM vertical velocity, (2, inf), margin 2, linear, 0) (no env twin)."""
    torso = g.body_id("torso")

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        vz = g.subtree_com_velocity(s, torso)[:, 2]
        return tolerance(vz, (2.0, float("inf")), margin=2.0, value_at_margin=0, sigmoid="linear")
    return reward


def walker(g: MujocoGraph, move_speed: float = 1.0) -> RewardFn:
    """dm_control walker: (3 standing + upright)/4, times (5 move + 1)/6 when move_speed > 0."""
    torso = g.body_id("torso")

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        standing = tolerance(s[:, torso, 2], (1.2, float("inf")), margin=0.6)
        upright = (1 + _zz(s, torso)) / 2
        stand = (3 * standing + upright) / 4
        if move_speed == 0:
            return stand
        v = g.subtree_com_velocity(s, torso)[:, 0]
        move = tolerance(v, (move_speed, float("inf")), margin=move_speed / 2, value_at_margin=0.5,
                         sigmoid="linear")
        return stand * (5 * move + 1) / 6
    return reward


def hopper(g: MujocoGraph, hopping: bool = True) -> RewardFn:
    """dm_control hopper: standing = tolerance(torso - foot COM height, (0.6, 2)) times, for hop,
    tolerance(torso subtree COM x-velocity, (2, inf), margin 1, linear, 0.5), else a small-control
    factor ((mean quadratic tolerance of the controls, margin 1) + 4) / 5."""
    torso, foot = g.body_id("torso"), g.body_id("foot")
    ipos = g.model.body_ipos

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        height = g.point_positions(s, torso, ipos[torso])[:, 2] - g.point_positions(s, foot, ipos[foot])[:, 2]
        standing = tolerance(height, (0.6, 2.0))
        if hopping:
            speed = g.subtree_com_velocity(s, torso)[:, 0]
            return standing * tolerance(speed, (2.0, float("inf")), margin=1.0, value_at_margin=0.5,
                                        sigmoid="linear")
        return standing * _small_control(action, s)
    return reward


def reacher(g: MujocoGraph, target: tuple[float, float] | None = None, target_size: float = 0.05,
            smooth: bool = False) -> RewardFn:
    """tolerance(|finger - target|_xy, (0, target size + finger size)); `smooth` adds margin 0.1."""
    m = g.model
    tpos = np.array(m.geom("target").pos, dtype=float)
    if target is not None:
        tpos[:2] = target
    radii = target_size + float(m.geom("finger").size[0])

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        vec = device_constant(tpos[:2], s) - g.geom_position(s, "finger")[:, :2]
        return tolerance(vec.norm(dim=-1), (0.0, radii), margin=0.1 if smooth else 0.0)
    return reward


def _on_state_graph(indicator: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A sparse reward kept on the state's autograd graph with an exact zero gradient (`+ 0 * x`).

    Why: an indicator has no gradient in dm_control either, but a planner's backward through it
    must run (not raise "does not require grad"); a NaN `x` still gives NaN.
    """
    return indicator.to(x.dtype) + 0 * x


def _small_control(action: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """dm_control's small-control factor [B]: ((mean quadratic tolerance of the controls, margin 1) + 4) / 5."""
    small = tolerance(action.to(like.dtype), margin=1.0, value_at_margin=0.0, sigmoid="quadratic").mean(-1)
    return (small + 4) / 5


def point_mass(g: MujocoGraph) -> RewardFn:
    """dm_control point_mass: tolerance(|mass - target|, (0, target size), margin target size)
    times the small-control factor (easy and hard: hard only randomises the actuator gains)."""
    m = g.model
    target = np.array(m.geom("target").pos, dtype=float)  # a world geom: fixed
    size = float(m.geom("target").size[0])

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        d = (device_constant(target, s) - g.geom_position(s, "pointmass")).norm(dim=-1)
        return tolerance(d, (0.0, size), margin=size) * _small_control(action, s)
    return reward


def ball_in_cup(g: MujocoGraph) -> RewardFn:
    """dm_control ball_in_cup (sparse): 1 when |target site - ball|_x and _z are both below
    target half-size - ball radius (strict, as dm_control), else 0."""
    m = g.model
    ball = g.body_id("ball")
    limit = np.array(m.site("target").size, dtype=float)[[0, 2]] - float(m.geom("ball").size[0])

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        d = (g.site_position(s, "target") - s[:, ball, 0:3])[:, [0, 2]].abs()
        inside = (d < device_constant(limit, s)).all(-1)
        return _on_state_graph(inside, d.sum(-1))
    return reward


def finger_spin(g: MujocoGraph, spin_velocity: float = 15.0, smooth: bool = False) -> RewardFn:
    """dm_control finger-spin (sparse): 1 when the spinner's hinge velocity <= -spin_velocity, else 0;
    `smooth`: a margin of spin_velocity, so spinning the right way at any speed earns something."""
    hinge = g.joint_id("hinge")

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        v = g.hinge_velocity(s, hinge)
        if smooth:
            return tolerance(v, (float("-inf"), -spin_velocity), margin=spin_velocity)
        return _on_state_graph(tolerance(v, (float("-inf"), -spin_velocity)), v)
    return reward


def finger_turn(g: MujocoGraph, target: tuple[float, float] | None = None, target_size: float = 0.07) -> RewardFn:
    """dm_control finger-turn (sparse): 1 when |target - tip|_xz <= target radius; `target` is the
    target site's (x, z) (finger is planar in x-z), turn_easy radius 0.07, turn_hard 0.03."""
    tpos = np.array(g.model.site("target").pos, dtype=float)[[0, 2]]  # a world site, moved per episode
    if target is not None:
        tpos[:] = target

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        vec = device_constant(tpos, s) - g.site_position(s, "tip")[:, [0, 2]]
        dist = vec.norm(dim=-1) - target_size
        return _on_state_graph(dist <= 0, dist)
    return reward


def fish_upright(g: MujocoGraph) -> RewardFn:
    """dm_control fish-upright: tolerance(torso zz, (1, 1), margin 1) (gaussian)."""
    torso = g.body_id("torso")

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        return tolerance(_zz(s, torso), (1.0, 1.0), margin=1.0)
    return reward


def _site_local_velocity(g: MujocoGraph, states: torch.Tensor, name: str) -> torch.Tensor:
    """Linear velocity [B, 3] of a named site in the site's own frame (= MuJoCo's velocimeter sensor)."""
    m = g.model
    i = int(m.site(name).id)
    body = int(m.site_bodyid[i])
    rot = quat_to_mat(states[:, body, 3:7])
    offset = rot @ device_constant(m.site_pos[i], states)
    v = states[:, body, 7:10] + torch.cross(states[:, body, 10:13], offset, dim=-1)
    site_rot = rot @ quat_to_mat(device_constant(m.site_quat[i], states))
    return (v[:, None, :] @ site_rot)[:, 0]


def quadruped(g: MujocoGraph, desired_speed: float = 0.5) -> RewardFn:
    """dm_control quadruped walk (speed 0.5) / run (5): upright = tolerance(torso zz, (1, inf), margin 2,
    linear, 0) times tolerance(torso velocimeter x, (speed, inf), margin speed, linear, 0.5)."""
    torso = g.body_id("torso")

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        upright = tolerance(_zz(s, torso), (1.0, float("inf")), margin=2.0, value_at_margin=0.0, sigmoid="linear")
        speed = _site_local_velocity(g, s, "torso")[:, 0]
        move = tolerance(speed, (desired_speed, float("inf")), margin=desired_speed, value_at_margin=0.5,
                         sigmoid="linear")
        return upright * move
    return reward


REWARD_BUILDERS: dict[str, Callable[..., RewardFn]] = {
    "pendulum_swingup": pendulum_swingup, "cartpole": cartpole, "acrobot_swingup": acrobot_swingup,
    "swimmer": swimmer, "cheetah": cheetah, "cheetah_jump": cheetah_jump, "walker": walker,
    "reacher": reacher, "hopper": hopper, "point_mass": point_mass, "ball_in_cup": ball_in_cup,
    "finger_spin": finger_spin, "finger_turn": finger_turn, "fish_upright": fish_upright, "quadruped": quadruped,
}


def build_reward(builder: str, graph: MujocoGraph, **options) -> RewardFn:
    """The reward function of REWARD_BUILDERS[builder] on `graph`; an unknown builder or option is an InputError.

    Why: a misspelt option (e.g. `smoth=True`) must not be silently ignored.
    """
    if builder not in REWARD_BUILDERS:
        raise InputError(f"unknown reward builder {builder!r}; known: {', '.join(sorted(REWARD_BUILDERS))}")
    fn = REWARD_BUILDERS[builder]
    allowed = [n for n in inspect.signature(fn).parameters if n != "g"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InputError(f"reward {builder!r} has no option {', '.join(map(repr, unknown))}; "
                         f"its options: {', '.join(allowed) or 'none'}")
    return fn(graph, **options)
