"""Pixel datasets of Hamiltonian systems: HNN's 28x28 pendulum and HGN's 32x32 colour scenes.

Rendering is vectorised numpy with anti-aliased discs and rods, so thousands of frames take
seconds. Images are float32 in [0, 1]: grayscale [..., H, W] or colour [..., 3, H, W].
World coordinates map to pixels through a square `extent` (-extent..extent on both axes).
"""

from __future__ import annotations

import numpy as np

from envs.particles.hamiltonian_systems import make_system
from gncontrol.errors import InputError

__all__ = ["render_discs", "render_rod", "pixel_pendulum_dataset", "hgn_dataset", "HGN_SCENES"]

COLOURS = np.array([[1.0, 0.2, 0.2], [0.2, 0.8, 0.2], [0.3, 0.4, 1.0], [0.9, 0.8, 0.1]])


def _grid(size: int, extent: float) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size) + 0.5) / size * 2 * extent - extent
    x, y = np.meshgrid(c, -c)  # row 0 is the top (largest y)
    return x, y


def render_discs(positions: np.ndarray, radius: float, size: int = 32, extent: float = 2.0,
                 colours: np.ndarray | None = None) -> np.ndarray:
    """Colour images [..., 3, size, size] of K discs at positions [..., K, 2] (world units)."""
    positions = np.asarray(positions, dtype=np.float64)
    k = positions.shape[-2]
    colours = COLOURS[:k] if colours is None else np.asarray(colours)
    gx, gy = _grid(size, extent)
    px = 2 * extent / size
    dx = gx - positions[..., 0, None, None]
    dy = gy - positions[..., 1, None, None]
    cover = np.clip((radius - np.sqrt(dx ** 2 + dy ** 2)) / px + 0.5, 0.0, 1.0)  # [..., K, H, W]
    img = np.einsum("...khw,kc->...chw", cover, colours)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def render_rod(angle: np.ndarray, length: float = 1.0, width: float = 0.15, size: int = 28,
               extent: float = 1.2) -> np.ndarray:
    """Grayscale images [..., size, size] of a rod from the pivot at angle (0 = hanging down)."""
    angle = np.asarray(angle, dtype=np.float64)
    gx, gy = _grid(size, extent)
    ex, ey = np.sin(angle)[..., None, None], -np.cos(angle)[..., None, None]
    t = np.clip(gx * ex + gy * ey, 0.0, length)  # projection on the rod, clamped to the segment
    d = np.sqrt((gx - t * ex) ** 2 + (gy - t * ey) ** 2)
    px = 2 * extent / size
    return np.clip((width / 2 - d) / px + 0.5, 0.0, 1.0).astype(np.float32)


def pixel_pendulum_dataset(n_traj: int = 200, n_frames: int = 100, seed: int = 0,
                           size: int = 28) -> dict[str, np.ndarray]:
    """HNN's pixel pendulum: classic-control pendulum (g = 10, m = l = 1, dt = 0.05), zero torque.

    |initial angle| < pi/6, initial speed U(-1, 1); returns frames [N, T, size, size] and
    the true (angle, angular velocity) states [N, T, 2].
    """
    rng = np.random.default_rng(seed)
    g, length, dt = 10.0, 1.0, 0.05  # m = 1 enters only through the (zero) torque
    th = rng.uniform(-np.pi / 6, np.pi / 6, n_traj)
    om = rng.uniform(-1.0, 1.0, n_traj)
    states = np.zeros((n_traj, n_frames, 2))
    for t in range(n_frames):
        states[:, t] = np.stack([th, om], -1)
        # gym's Pendulum-v1 update (semi-implicit Euler), angle measured from hanging down
        om = om - 3 * g / (2 * length) * np.sin(th) * dt
        th = th + om * dt
    return {"frames": render_rod(states[..., 0], size=size), "states": states}


# scene: (system name, disc radius, extent, noise on phase space, r range of initial state)
HGN_SCENES = {
    "mass_spring": ("mass_spring", 0.25, 1.6, 0.1),
    "pendulum": ("pendulum", 0.25, 1.4, 0.1),
    "two_body": ("two_body", 0.25, 2.2, 0.05),
    "three_body": ("three_body", 0.25, 2.2, 0.2),
}


def _scene_positions(name: str, states: np.ndarray) -> np.ndarray:
    """Disc positions [..., K, 2] for the rendered bodies of each HGN scene."""
    if name == "mass_spring":
        q = states[..., 0]
        return np.stack([np.zeros_like(q), q], -1)[..., None, :]
    if name == "pendulum":
        q = states[..., 0]
        return np.stack([np.sin(q), -np.cos(q)], -1)[..., None, :]
    n = states.shape[-1] // 4
    return states[..., : 2 * n].reshape(*states.shape[:-1], n, 2)


def hgn_dataset(scene: str, n_traj: int, n_steps: int = 30, dt: float = 0.125, seed: int = 0,
                size: int = 32) -> dict[str, np.ndarray]:
    """HGN's pixel data: n_traj sequences of n_steps colour frames [N, T, 3, size, size].

    Initial (q, p) by the system's recipe, Gaussian noise on the phase-space coordinates
    before simulating, dt = 0.125 between frames; returns frames and true states [N, T, D].
    """
    if scene not in HGN_SCENES:
        raise InputError(f"unknown scene '{scene}', expected one of {', '.join(HGN_SCENES)}")
    system_name, radius, extent, noise = HGN_SCENES[scene]
    system = make_system(system_name)
    rng = np.random.default_rng(seed)
    x0 = system.sample_initial(n_traj, rng)
    x0 = x0 + noise * rng.standard_normal(x0.shape)
    t = np.arange(n_steps) * dt
    states = system.trajectories(x0, t, solver="rk4", substeps=5)
    frames = render_discs(_scene_positions(scene, states), radius, size, extent)
    return {"frames": frames, "states": states}
