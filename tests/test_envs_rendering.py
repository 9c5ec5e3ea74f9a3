"""Rendering as a user meets it: MUJOCO_GL chosen when unset, frames that degrade instead of a crash."""

import os
import subprocess
import sys

import pytest

from envs import rendering


def test_headless_rendering_command_exits_0(tmp_path):
    """`gncontrol plan` (which records an episode GIF) with MUJOCO_GL and DISPLAY removed, as on a fresh server."""
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY", "WAYLAND_DISPLAY")}
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "gncontrol", "plan", "--model", "true", "--task",
                           "pendulum-swingup", "--planner", "random", "--samples", "4", "--horizon", "2",
                           "--steps", "4", "--out", str(out)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    # frames where a backend works, else one line saying they are off
    assert (out / "episode.gif").is_file() or "no frames" in proc.stderr or "rendering is off" in proc.stderr


@pytest.mark.parametrize("environ, egl, osmesa, expected", [
    ({"MUJOCO_GL": "osmesa", "DISPLAY": ":0"}, True, True, "osmesa"),  # the user's choice wins
    ({"DISPLAY": ":0"}, True, True, "glfw"),
    ({"WAYLAND_DISPLAY": "wayland-0"}, False, False, "glfw"),
    ({}, True, True, "egl"),
    ({}, False, True, "osmesa"),
    ({}, False, False, "disable"),
])
def test_choose_gl_backend_order(monkeypatch, environ, egl, osmesa, expected):
    monkeypatch.setattr(rendering, "_egl_has_device_platform", lambda: egl)
    monkeypatch.setattr(rendering, "_osmesa_loads", lambda: osmesa)
    env = dict(environ)
    assert rendering.choose_gl_backend(env) == expected
    assert env["MUJOCO_GL"] == expected


def test_render_frame_failure_gives_none_and_one_line(monkeypatch, capsys):
    class BrokenPhysics:
        calls = 0

        def render(self, *args, **kwargs):
            BrokenPhysics.calls += 1
            raise RuntimeError("an OpenGL platform library has not been loaded into this process")

    monkeypatch.setitem(rendering._state, "failed", None)
    monkeypatch.setenv("MUJOCO_GL", "egl")
    physics = BrokenPhysics()
    assert rendering.render_frame(physics) is None
    assert rendering.render_frame(physics) is None
    assert BrokenPhysics.calls == 1  # no retry after the first failure
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no frames" in err[0] and "MUJOCO_GL" in err[0]
