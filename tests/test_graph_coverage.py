"""envs.graph_coverage: what a body graph leaves out, and `gncontrol tasks --show`."""

import mujoco

from envs.graph_coverage import omissions
from envs.mujoco_graph import MujocoGraph
from envs.tasks import get_task
from gncontrol.cli import main

XML = """<mujoco><worldbody>
  <geom name="floor" type="plane" size="2 2 .1"/><site name="goal" pos="1 0 0"/>
  <body name="ball" pos="0 0 1"><freejoint/><geom type="sphere" size=".1"/></body>
  <body name="hand" mocap="true" pos="0 1 1"><geom type="box" size=".1 .1 .1" contype="0" conaffinity="0"/></body>
  <body name="arm" pos="0 -1 1"><joint name="j1" type="hinge"/><site name="s1"/>
    <geom type="capsule" size=".05" fromto="0 0 0 .5 0 0"/>
    <body name="fore" pos=".5 0 0"><joint name="j2" type="hinge"/>
      <geom type="capsule" size=".05" fromto="0 0 0 .5 0 0"/><site name="s2" pos=".4 0 0"/></body>
  </body></worldbody>
  <tendon><fixed name="both"><joint joint="j1" coef="1"/><joint joint="j2" coef="-2"/></fixed>
    <spatial name="cable"><site site="s1"/><site site="s2"/></spatial></tendon>
  <equality><joint joint1="j1" joint2="j2"/></equality>
  <actuator><motor joint="j1"/><motor name="pull" tendon="both" gear="3"/><motor name="reel" tendon="cable"/>
  </actuator></mujoco>"""


def test_omissions_name_tendons_their_actuators_mocap_equalities_world_sites_and_contacts():
    lines = omissions(MujocoGraph(mujoco.MjModel.from_xml_string(XML)))
    text = "\n".join(lines)
    assert "2 tendon(s) (both, cable)" in text and "1 of 3 actuator(s) on spatial tendons or sites (reel)" in text
    assert "1 mocap body" in text and "1 equality constraint" in text and "site goal" in text
    assert "geom floor" not in text  # a plane is the floor, not a hidden target
    assert any(line.startswith("contacts") for line in lines)


def test_a_model_the_graph_covers_has_no_omissions():
    plain = '<mujoco><worldbody><body><joint type="hinge"/><geom size=".1"/></body></worldbody></mujoco>'
    assert omissions(MujocoGraph(mujoco.MjModel.from_xml_string(plain))) == []
    assert omissions(get_task("gym:Swimmer-v5").graph()) == []


def test_tasks_show_prints_size_reward_and_omissions(capsys):
    assert main(["tasks", "--show", "dmc:point_mass-easy"]) == 0
    out = capsys.readouterr().out
    assert "2 bodies" in out and "torch reward: point_mass" in out and "2 tendon(s) (t1, t2)" in out
    assert "actuator" not in out  # both act through fixed tendons, which have edges


def test_a_fixed_tendon_actuator_drives_an_edge_per_joint_with_its_coefficient_in_the_gear():
    m = mujoco.MjModel.from_xml_string(XML)
    g = MujocoGraph(m)
    jointless = sum(1 for b in range(1, m.nbody) if m.body_jntnum[b] == 0)
    assert g.num_edges == m.njnt + jointless + 2  # + one edge per joint of the tendon "both"
    tendon_edges = [e for e in range(g.num_edges) if g.edge_actuator[e] == 1]
    assert [int(g.edge_joint[e]) for e in tendon_edges] == [m.joint("j1").id, m.joint("j2").id]
    assert list(m.body_parentid[g.receivers]) == list(g.senders)  # still parent -> child
    edges = g.static_arrays()[1]
    assert edges[tendon_edges, 19].tolist() == [3.0, -6.0]  # gear 3 times the coefficients 1 and -2
    import torch

    per_edge = g.edge_actions(torch.tensor([[0.5, -1.0, 7.0]])).reshape(-1)
    assert per_edge[tendon_edges].tolist() == [-1.0, -1.0] and 7.0 not in per_edge.tolist()  # "reel": no edge


def test_a_tendon_wrap_with_coefficient_zero_gets_no_edge():
    """point_mass's tendons list both joints, one at coefficient 0: each actuator drives only the joint it moves,
    so the model can tell which control pushes along x and which along y."""
    from envs.tasks import get_task

    g = get_task("dmc:point_mass-easy").graph()
    m = g.model
    assert g.num_edges == m.njnt + 2
    driven = {int(g.edge_actuator[e]): int(g.edge_joint[e]) for e in range(g.num_edges) if g.edge_actuator[e] >= 0}
    assert driven == {0: m.joint("root_x").id, 1: m.joint("root_y").id}
