"""envs.graph_coverage: what a body graph leaves out, and `gncontrol tasks --show`."""

import mujoco

from envs.graph_coverage import omissions
from envs.tasks import get_task
from gncontrol.cli import main

XML = """<mujoco><worldbody>
  <geom name="floor" type="plane" size="2 2 .1"/><site name="goal" pos="1 0 0"/>
  <body name="ball" pos="0 0 1"><freejoint/><geom type="sphere" size=".1"/></body>
  <body name="hand" mocap="true" pos="0 1 1"><geom type="box" size=".1 .1 .1" contype="0" conaffinity="0"/></body>
  <body name="arm" pos="0 -1 1"><joint name="j1" type="hinge"/><geom type="capsule" size=".05" fromto="0 0 0 .5 0 0"/>
    <body name="fore" pos=".5 0 0"><joint name="j2" type="hinge"/>
      <geom type="capsule" size=".05" fromto="0 0 0 .5 0 0"/></body>
  </body></worldbody>
  <tendon><fixed name="both"><joint joint="j1" coef="1"/><joint joint="j2" coef="1"/></fixed></tendon>
  <equality><joint joint1="j1" joint2="j2"/></equality>
  <actuator><motor joint="j1"/><motor name="pull" tendon="both"/></actuator></mujoco>"""


def test_omissions_name_tendons_their_actuators_mocap_equalities_world_sites_and_contacts():
    lines = omissions(mujoco.MjModel.from_xml_string(XML))
    text = "\n".join(lines)
    assert "1 tendon(s) (both)" in text and "1 of 2 actuator(s) on tendons or sites (pull)" in text
    assert "1 mocap body" in text and "1 equality constraint" in text and "site goal" in text
    assert "geom floor" not in text  # a plane is the floor, not a hidden target
    assert any(line.startswith("contacts") for line in lines)


def test_a_model_the_graph_covers_has_no_omissions():
    plain = '<mujoco><worldbody><body><joint type="hinge"/><geom size=".1"/></body></worldbody></mujoco>'
    assert omissions(mujoco.MjModel.from_xml_string(plain)) == []
    assert omissions(get_task("gym:Swimmer-v5").graph().model) == []


def test_tasks_show_prints_size_reward_and_omissions(capsys):
    assert main(["tasks", "--show", "dmc:point_mass-easy"]) == 0
    out = capsys.readouterr().out
    assert "2 bodies" in out and "torch reward: point_mass" in out and "2 of 2 actuator(s) on tendons" in out
