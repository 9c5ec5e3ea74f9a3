"""MujocoGraph: topology, static features and body states for suite, Gymnasium and free/ball models."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
import torch

from envs.mujoco_graph import STATIC_EDGE_FEATURES, STATIC_NODE_FEATURES, MujocoGraph, quat_to_mat
from envs.tasks import get_task

FREE_BALL_XML = """
<mujoco>
  <option timestep="0.005" gravity="0 0 -9.81"/>
  <worldbody>
    <geom type="plane" size="5 5 .1"/>
    <body name="torso" pos="0 0 1">
      <freejoint/>
      <geom type="box" size=".2 .1 .05" mass="2"/>
      <body name="arm" pos=".2 0 0">
        <joint name="shoulder" type="ball" damping=".1"/>
        <geom type="capsule" fromto="0 0 0 .3 0 0" size=".03" mass=".5"/>
        <body name="hand" pos=".3 0 0">
          <joint name="wrist" type="hinge" axis="0 1 0" range="-1 1" limited="true"/>
          <geom type="sphere" size=".05" pos=".05 0 0" mass=".2"/>
          <body name="glued" pos=".1 0 0"><geom type="sphere" size=".02" mass=".05"/></body>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator><motor joint="wrist" gear="3" ctrlrange="-1 1"/></actuator>
</mujoco>
"""


def _check_structure(g: MujocoGraph, m: mujoco.MjModel) -> None:
    jointless = sum(1 for b in range(1, m.nbody) if m.body_jntnum[b] == 0)
    assert g.num_nodes == m.nbody
    assert g.num_edges == m.njnt + jointless
    assert g.action_dim == m.nu
    # every edge goes parent -> child, every non-world body receives at least one edge
    assert np.array_equal(m.body_parentid[g.receivers], g.senders)
    assert set(g.receivers.tolist()) == set(range(1, m.nbody))
    sg = g.static_graph().validate(check_finite=True)
    assert sg.nodes.shape == (m.nbody, len(STATIC_NODE_FEATURES))
    assert sg.edges.shape == (g.num_edges, len(STATIC_EDGE_FEATURES))
    assert torch.allclose(sg.nodes[:, 0], torch.as_tensor(m.body_mass, dtype=torch.float32))
    # the one-hot joint type sums to one per edge; actuated edges carry their gear
    assert torch.all(sg.edges[:, :5].sum(1) == 1)
    act = g.edge_actuator
    assert sorted(act[act >= 0].tolist()) == sorted(
        a for a in range(m.nu) if m.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT)
    for e in np.flatnonzero(act >= 0):
        assert sg.edges[e, STATIC_EDGE_FEATURES.index("gear")] == pytest.approx(m.actuator_gear[act[e], 0])
        assert m.actuator_trnid[act[e], 0] == g.edge_joint[e]


def _check_states(g: MujocoGraph, m: mujoco.MjModel, d: mujoco.MjData) -> None:
    """Origin velocities are the time derivative of positions; quaternions unit; world at rest."""
    mujoco.mj_forward(m, d)
    s = g.body_states(d)
    assert s.shape == (m.nbody, 13)
    assert np.allclose(np.linalg.norm(s[:, 3:7], axis=1), 1)
    assert np.allclose(s[0], [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    d2 = mujoco.MjData(m)
    d2.qpos[:], d2.qvel[:] = d.qpos, d.qvel
    h = 1e-7
    mujoco.mj_integratePos(m, d2.qpos, d2.qvel, h)
    mujoco.mj_forward(m, d2)
    assert np.allclose((d2.xpos - d.xpos) / h, s[:, 7:10], atol=1e-4)
    # angular velocity equals mj_objectVelocity's (world frame, [ang; lin] layout)
    for b in range(1, m.nbody):
        v = np.zeros(6)
        mujoco.mj_objectVelocity(m, d, mujoco.mjtObj.mjOBJ_BODY, b, v, 0)
        assert np.allclose(v[:3], s[b, 10:13], atol=1e-9)


def _randomise(m: mujoco.MjModel, d: mujoco.MjData, seed: int) -> None:
    rng = np.random.default_rng(seed)
    mujoco.mj_resetData(m, d)
    d.qvel[:] = rng.normal(size=m.nv)
    for _ in range(5):
        d.ctrl[:] = rng.uniform(-1, 1, size=m.nu)
        mujoco.mj_step(m, d)


SUITE = ["pendulum-swingup", "cartpole-swingup", "acrobot-swingup", "cheetah-run", "walker-walk",
         "reacher-easy"] + [f"swimmer{n}" for n in range(3, 16)]


@pytest.mark.parametrize("name", SUITE)
def test_suite_graphs(name):
    task = get_task(name)
    env = task.make_env(seed=0)
    env.reset()
    m, d = env.physics.model.ptr, env.physics.data.ptr
    g = task.graph()
    _check_structure(g, m)
    _randomise(m, d, 0)
    _check_states(g, m, d)


def test_swimmer_sizes_and_planar_root():
    for n in (3, 6, 15):
        g = get_task(f"swimmer{n}").graph()
        assert (g.num_nodes, g.action_dim) == (n + 1, n - 1)
        # the planar root is three parallel world -> head edges: slide, slide, hinge
        root = np.flatnonzero(g.senders == 0)
        assert g.edge_type[root].tolist() == [2, 2, 3]


@pytest.mark.parametrize("env_id", ["HalfCheetah-v5", "InvertedPendulum-v5"])
def test_gymnasium_graphs(env_id):
    gym = pytest.importorskip("gymnasium")
    env = gym.make(env_id)
    env.reset(seed=0)
    g = MujocoGraph.from_gym(env)
    m, d = env.unwrapped.model, env.unwrapped.data
    _check_structure(g, m)
    _randomise(m, d, 1)
    _check_states(g, m, d)
    env.close()


def test_free_and_ball_joints():
    m = mujoco.MjModel.from_xml_string(FREE_BALL_XML)
    d = mujoco.MjData(m)
    g = MujocoGraph(m)
    _check_structure(g, m)
    # world->torso free, torso->arm ball, arm->hand hinge, hand->glued fixed (jointless body)
    assert g.senders.tolist() == [0, 1, 2, 3]
    assert g.edge_type.tolist() == [0, 1, 3, 4]
    assert g.edge_actuator.tolist() == [-1, -1, 0, -1]
    _randomise(m, d, 2)
    d.qvel[:] = np.random.default_rng(3).normal(size=m.nv) * 2  # spin the free body
    _check_states(g, m, d)
    s = torch.as_tensor(g.body_states(d))[None]
    # the way back: geom positions from states equal MuJoCo's
    assert torch.allclose(g.point_positions(s, 3, m.geom_pos[3])[0], torch.as_tensor(d.geom_xpos[3]))
    assert torch.allclose(quat_to_mat(s[0, 1:, 3:7]).reshape(-1, 9), torch.as_tensor(d.xmat[1:]))


def test_dynamic_graph_and_edge_actions():
    g = get_task("cheetah-run").graph()
    b = 5
    states = torch.randn(b, g.num_nodes, 13, dtype=torch.float64)
    action = torch.randn(b, g.action_dim, dtype=torch.float64, requires_grad=True)
    dg = g.dynamic_graph(states, action).validate()
    assert dg.nodes.shape == (b * g.num_nodes, 13) and dg.edges.shape == (b * g.num_edges, 1)
    assert dg.globals.shape == (b, 0)
    edges = dg.edges.reshape(b, g.num_edges)
    act = torch.as_tensor(g.edge_actuator)
    assert torch.equal(edges[:, act >= 0], action[:, act[act >= 0]])
    assert torch.all(edges[:, act < 0] == 0)
    edges.sum().backward()  # differentiable for planners
    assert torch.all(action.grad == 1)
    with pytest.raises(ValueError, match="action must be"):
        g.edge_actions(torch.zeros(2, g.action_dim + 1))
    with pytest.raises(ValueError, match="states must be"):
        g.dynamic_graph(torch.zeros(2, g.num_nodes, 12), torch.zeros(2, g.action_dim))


def test_static_graph_reflects_model_changes():
    task = get_task("pendulum-swingup")
    env = task.make_env(seed=0)
    m = env.physics.model.ptr
    g = MujocoGraph(m)
    before = g.static_graph().nodes[1, 0].item()
    m.body_mass[1] *= 2
    assert g.static_graph().nodes[1, 0].item() == pytest.approx(2 * before)
