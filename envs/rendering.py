"""Choosing MuJoCo's OpenGL backend before mujoco / dm_control are imported, and rendering
frames that degrade to "no frames" instead of a crash.

MuJoCo and dm_control read MUJOCO_GL once, when they are imported. With it unset on a
headless machine, dm_control picks GLFW, which cannot open a window, and the first
`physics.render` dies with "an OpenGL platform library has not been loaded into this
process". `choose_gl_backend` (run by `import envs`, so before any of our modules imports
mujoco) sets MUJOCO_GL when the user has not: "glfw" with a display, else "egl" when libEGL
offers the device platform dm_control uses, else "osmesa" when libOSMesa loads, else
"disable". The user's own MUJOCO_GL always wins.

`render_frame` returns None (and says why in one line, once per process) when rendering
fails anyway, so every command that records frames goes on without them.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import MutableMapping
from typing import Any

import numpy as np

__all__ = ["choose_gl_backend", "render_frame", "rendering_available"]

_DISABLED = ("off", "disable", "disabled", "false", "0")
_state: dict[str, Any] = {"failed": None}


def _egl_has_device_platform() -> bool:
    """True when libEGL loads and exports the device-platform functions dm_control's EGL backend needs."""
    try:
        egl = ctypes.CDLL("libEGL.so.1")
    except OSError:
        return False
    egl.eglGetProcAddress.restype = ctypes.c_void_p
    egl.eglGetProcAddress.argtypes = [ctypes.c_char_p]
    return all(egl.eglGetProcAddress(name) for name in (b"eglQueryDevicesEXT", b"eglGetPlatformDisplayEXT"))


def _osmesa_loads() -> bool:
    """True when the OSMesa software renderer's library loads."""
    for name in ("libOSMesa.so.8", "libOSMesa.so.6", "libOSMesa.so"):
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def choose_gl_backend(environ: MutableMapping[str, str] | None = None) -> str:
    """Sets MUJOCO_GL in `environ` (default os.environ) unless the user set it; returns the backend.

    Order: "glfw" when DISPLAY or WAYLAND_DISPLAY is set, "egl", "osmesa", else "disable"
    (dm_control's no-renderer: every render call then fails fast and `render_frame` gives None).
    """
    environ = os.environ if environ is None else environ
    if environ.get("MUJOCO_GL"):
        return environ["MUJOCO_GL"]
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        choice = "glfw"
    elif _egl_has_device_platform():
        choice = "egl"
    elif _osmesa_loads():
        choice = "osmesa"
    else:
        choice = "disable"
    environ["MUJOCO_GL"] = choice
    return choice


def rendering_available() -> bool:
    """False once a render has failed in this process or when MUJOCO_GL disables rendering."""
    return _state["failed"] is None and os.environ.get("MUJOCO_GL", "").lower() not in _DISABLED


def render_frame(physics: Any, size: int = 64, camera_id: int = 0) -> np.ndarray | None:
    """An RGB frame [size, size, 3] of a dm_control physics, or None when no OpenGL backend works.

    The first failure prints one line naming the backend and how to choose another; later
    calls return None at once.
    """
    if not rendering_available():
        if _state["failed"] is None:
            _state["failed"] = f"MUJOCO_GL={os.environ.get('MUJOCO_GL')}"
            print(f"note: rendering is off ({_state['failed']}); going on without frames", file=sys.stderr)
        return None
    try:
        return physics.render(size, size, camera_id=camera_id)
    except Exception as exc:  # noqa: BLE001 - any GL failure means no frames, not a failed run
        _state["failed"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        print(f"note: no frames: rendering failed with MUJOCO_GL={os.environ.get('MUJOCO_GL')} "
              f"({_state['failed']}); set MUJOCO_GL to egl, osmesa or glfw to choose another backend",
              file=sys.stderr)
        return None
