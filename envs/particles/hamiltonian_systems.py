"""Hamiltonian particle systems with scipy ground truth, as in the HNN / HGN / HOGN papers.

Every state is canonical, x = (q, p) of shape [B, D]: all positions first, then all momenta
(for planar n-body systems q = (x_1, y_1, ..., x_n, y_n), p likewise). Each system gives its
energy `hamiltonian(x) -> [B]` in torch, its true vector field (Hamilton's equations plus
friction where the system has it, plus an input force on p for control), initial-condition
sampling following the papers' recipes, datasets of trajectories with clean time
derivatives, and a true `DynamicsModel` (`TrueHamiltonianModel`) for planners.

Systems (name: H):
    mass_spring       q^2 + p^2                          (k = 2, m = 0.5)
    pendulum          3 (1 - cos q) + p^2                (g = 3, m = 0.5, l = 1)
    damped_pendulum   pendulum with friction dp/dt -= gamma p (stand-in for real pendulum data)
    two_body / three_body / nbody_gravity: sum |p_i|^2 / 2 m_i - sum_{i<j} g m_i m_j / r_ij
    nbody_springs     sum |p_i|^2 / 2 m_i + sum_{i<j} k/2 (r_ij - L)^2
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from gncontrol.errors import InputError
from gncontrol.hamiltonian.integrators import get_integrator, solve_ivp_ground_truth
from gncontrol.hamiltonian.vector_fields import symplectic_gradient

Tensor = torch.Tensor

__all__ = ["HamiltonianSystem", "MassSpring", "Pendulum", "DampedPendulum", "NBodyGravity",
           "NBodySprings", "make_system", "SYSTEMS", "TrueHamiltonianModel", "make_dataset",
           "HamiltonianDataset", "authors_dataset"]


@dataclasses.dataclass
class HamiltonianSystem:
    """A system with Hamiltonian H(x), x [B, D] canonical; subclasses set the physics.

    Data-recipe fields (HNN defaults): t_span, n_points per trajectory, noise std added to
    the inputs, and the ground-truth solver's rtol.
    """

    name: str = "system"
    dim: int = 2
    t_span: tuple[float, float] = (0.0, 3.0)
    n_points: int = 30
    noise: float = 0.1
    rtol: float = 1e-10
    friction: float = 0.0

    # ------------------------------------------------------------------ physics
    def hamiltonian(self, x: Tensor) -> Tensor:
        """Energy H [B] of states x [B, D]."""
        raise NotImplementedError

    def vector_field(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        """True dx/dt [B, D]: Hamilton's equations, minus friction on p, plus input force u on p."""
        dx = symplectic_gradient(self.hamiltonian, x, create_graph=False)
        n = self.dim // 2
        if self.friction:
            dx = torch.cat([dx[:, :n], dx[:, n:] - self.friction * x[:, n:]], -1)
        if u is not None and u.shape[-1]:
            dx = torch.cat([dx[:, :n], dx[:, n:] + self.force(u)], -1)
        return dx

    def force(self, u: Tensor) -> Tensor:
        """Generalised force on p [B, D/2] from an action u [B, A] (A = D/2: identity)."""
        if u.shape[-1] != self.dim // 2:
            raise InputError(f"{self.name} takes actions of size {self.dim // 2}, got {u.shape[-1]}")
        return u

    def sample_initial(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n initial states [n, D] drawn by the paper's recipe."""
        raise NotImplementedError

    # --------------------------------------------------------------- trajectories
    def numpy_field(self, x: np.ndarray) -> np.ndarray:
        """The true vector field on a float64 numpy batch [B, D] (for scipy)."""
        with torch.no_grad():
            return self.vector_field(torch.from_numpy(np.ascontiguousarray(x))).numpy()

    def trajectories(self, x0: np.ndarray, t_eval: np.ndarray, solver: str = "scipy",
                     substeps: int = 20) -> np.ndarray:
        """Ground-truth states [B, T, D] from x0 [B, D] at times t_eval (uniform for "rk4").

        solver "scipy": adaptive DOP853 at the system's rtol (the papers' protocol);
        "rk4": batched torch RK4 with `substeps` per interval, much faster for large batches.
        """
        if solver == "scipy":
            return solve_ivp_ground_truth(self.numpy_field, x0, t_eval, rtol=self.rtol)
        if solver != "rk4":
            raise InputError(f"unknown solver '{solver}', expected scipy or rk4")
        dt = float(t_eval[1] - t_eval[0]) / substeps
        x = torch.from_numpy(np.asarray(x0, dtype=np.float64))
        out = [x]
        step = get_integrator("rk4")
        with torch.no_grad():
            for _ in range(len(t_eval) - 1):
                for _ in range(substeps):
                    x = step(self.vector_field, x, dt)
                out.append(x)
        return torch.stack(out, 1).numpy()

    def energy_np(self, x: np.ndarray) -> np.ndarray:
        """H of a numpy batch [..., D] as numpy [...]."""
        shape = x.shape[:-1]
        with torch.no_grad():
            h = self.hamiltonian(torch.from_numpy(np.ascontiguousarray(x).reshape(-1, self.dim)))
        return h.numpy().reshape(shape)


@dataclasses.dataclass
class MassSpring(HamiltonianSystem):
    """H = k q^2 / 2 + p^2 / 2m with k = 2, m = 0.5 (HNN task 1, HGN mass-spring)."""

    name: str = "mass_spring"
    k: float = 2.0
    m: float = 0.5
    r_range: tuple[float, float] = (0.1, 1.0)

    def hamiltonian(self, x: Tensor) -> Tensor:
        """k q^2 / 2 + p^2 / 2m."""
        return 0.5 * self.k * x[:, 0] ** 2 + x[:, 1] ** 2 / (2 * self.m)

    def sample_initial(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Uniform direction on a circle of radius r ~ U(r_range) in (q, p)."""
        theta = rng.uniform(0, 2 * np.pi, n)
        r = rng.uniform(*self.r_range, n)
        return np.stack([r * np.cos(theta), r * np.sin(theta)], -1)


@dataclasses.dataclass
class Pendulum(MassSpring):
    """H = 2 m g l (1 - cos q) + p^2 / 2 m l^2 with g = 3, m = 0.5, l = 1 (= 3(1 - cos q) + p^2)."""

    name: str = "pendulum"
    g: float = 3.0
    m: float = 0.5
    length: float = 1.0
    n_points: int = 45
    r_range: tuple[float, float] = (1.3, 2.3)

    def hamiltonian(self, x: Tensor) -> Tensor:
        """2 m g l (1 - cos q) + p^2 / 2 m l^2."""
        m, g, length = self.m, self.g, self.length
        return 2 * m * g * length * (1 - torch.cos(x[:, 0])) + x[:, 1] ** 2 / (2 * m * length ** 2)


@dataclasses.dataclass
class DampedPendulum(Pendulum):
    """The pendulum with weak friction dp/dt -= gamma p: stands in for the real-pendulum data."""

    name: str = "damped_pendulum"
    friction: float = 0.05
    t_span: tuple[float, float] = (0.0, 6.0)
    n_points: int = 90


@dataclasses.dataclass
class NBodyGravity(HamiltonianSystem):
    """Planar gravitational n-body system, H = sum |p|^2/2m - sum_{i<j} g m_i m_j / r_ij.

    Defaults follow HNN's two-body recipe (m = g = 1, positions U(0.5, 1.5) mirrored through
    the origin, near-circular velocities); n = 3 follows its three-body recipe (bodies at
    120 degrees on a radius U(0.9, 1.2), velocities perturbed by 1 + 0.2 U(-1, 1)).
    `masses` may be overridden per batch by passing `params` to `hamiltonian_with`.
    """

    name: str = "two_body"
    n_bodies: int = 2
    g: float = 1.0
    softening: float = 0.0
    orbit_noise: float = 0.05
    r_range: tuple[float, float] = (0.5, 1.5)
    t_span: tuple[float, float] = (0.0, 20.0)
    n_points: int = 50
    noise: float = 0.0
    rtol: float = 1e-9
    masses: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        self.dim = 4 * self.n_bodies

    def mass_tensor(self, x: Tensor) -> Tensor:
        """Masses [n] on x's device and dtype."""
        m = self.masses if self.masses is not None else (1.0,) * self.n_bodies
        return torch.tensor(m, dtype=x.dtype, device=x.device)

    def positions(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(q [B, n, 2], p [B, n, 2]) from canonical x [B, 4n]."""
        n = self.n_bodies
        return x[:, : 2 * n].reshape(-1, n, 2), x[:, 2 * n:].reshape(-1, n, 2)

    def potential(self, q: Tensor, m: Tensor) -> Tensor:
        """Pairwise potential energy [B] for positions q [B, n, 2] and masses m [n]."""
        i, j = torch.triu_indices(self.n_bodies, self.n_bodies, 1, device=q.device)
        r = torch.sqrt(((q[:, i] - q[:, j]) ** 2).sum(-1) + self.softening ** 2)
        return -(self.g * m[i] * m[j] / r).sum(-1)

    def hamiltonian(self, x: Tensor) -> Tensor:
        """Kinetic + pairwise potential energy [B]."""
        q, p = self.positions(x)
        m = self.mass_tensor(x)
        return (p ** 2).sum(-1).div(2 * m).sum(-1) + self.potential(q, m)

    def vector_field(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        """Closed-form Hamilton's equations (fast ground truth): dq = p/m, dp = pairwise pulls + u."""
        q, p = self.positions(x)
        m = self.mass_tensor(x)
        diff = q.unsqueeze(1) - q.unsqueeze(2)  # [B, i, j, 2] = q_j - q_i
        r2 = (diff ** 2).sum(-1) + self.softening ** 2
        eye = torch.eye(self.n_bodies, dtype=torch.bool, device=x.device)
        inv_r3 = torch.where(eye, torch.zeros_like(r2), r2.clamp_min(1e-300) ** -1.5)
        force = self.g * (m[None, :, None] * m[None, None, :] * inv_r3).unsqueeze(-1) * diff
        return _pack(p / m[:, None], force.sum(2), u, self)

    def sample_initial(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """HNN's two-body (n_bodies = 2) or three-body (3) recipe; random orbits otherwise."""
        out = np.zeros((n, self.dim))
        nb = self.n_bodies
        for i in range(n):
            if nb == 2:
                pos = rng.uniform(*self.r_range, 2)
                r = np.sqrt((pos ** 2).sum())
                vel = np.flipud(pos) / (2 * r ** 1.5)
                vel[0] *= -1
                vel = vel * (1 + self.orbit_noise * rng.standard_normal())
                q = np.stack([pos, -pos])
                v = np.stack([vel, -vel])
            else:
                radius = rng.uniform(*self.r_range)
                phase = rng.uniform(0, 2 * np.pi)
                angles = phase + 2 * np.pi * np.arange(nb) / nb
                q = radius * np.stack([np.cos(angles), np.sin(angles)], -1)
                # circular-orbit speed for n equal masses on a ring (sum of pairwise pulls)
                s = sum(1.0 / (4 * np.sin(np.pi * k / nb)) for k in range(1, nb))
                speed = np.sqrt(self.g * s / radius)
                v = speed * np.stack([-np.sin(angles), np.cos(angles)], -1)
                v = v * (1 + self.orbit_noise * rng.uniform(-1, 1, (nb, 1)))
            m = np.asarray(self.masses if self.masses is not None else (1.0,) * nb)[:, None]
            out[i] = np.concatenate([q.reshape(-1), (m * v).reshape(-1)])
        return out


@dataclasses.dataclass
class NBodySprings(HamiltonianSystem):
    """Planar particles joined all-to-all by springs: H = sum |p|^2/2m + sum k/2 (r_ij - L)^2."""

    name: str = "nbody_springs"
    n_bodies: int = 4
    k: float = 1.0
    rest_length: float = 0.5
    t_span: tuple[float, float] = (0.0, 10.0)
    n_points: int = 101
    noise: float = 0.0
    masses: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        self.dim = 4 * self.n_bodies

    mass_tensor = NBodyGravity.mass_tensor
    positions = NBodyGravity.positions

    def hamiltonian(self, x: Tensor) -> Tensor:
        """Kinetic + spring energy [B]."""
        q, p = self.positions(x)
        m = self.mass_tensor(x)
        i, j = torch.triu_indices(self.n_bodies, self.n_bodies, 1, device=x.device)
        r = torch.sqrt(((q[:, i] - q[:, j]) ** 2).sum(-1) + 1e-12)
        return (p ** 2).sum(-1).div(2 * m).sum(-1) + 0.5 * self.k * ((r - self.rest_length) ** 2).sum(-1)

    def vector_field(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        """Closed-form Hamilton's equations: dq = p/m, dp = -k sum_j (r_ij - L) (q_i - q_j)/r_ij + u."""
        q, p = self.positions(x)
        m = self.mass_tensor(x)
        diff = q.unsqueeze(2) - q.unsqueeze(1)  # [B, i, j, 2] = q_i - q_j
        r = torch.sqrt((diff ** 2).sum(-1) + 1e-12)
        force = -self.k * ((r - self.rest_length) / r).unsqueeze(-1) * diff
        return _pack(p / m[:, None], force.sum(2), u, self)

    def sample_initial(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Positions U(-1, 1)^2, momenta N(0, 0.5^2), zero total momentum."""
        q = rng.uniform(-1, 1, (n, self.n_bodies, 2))
        p = 0.5 * rng.standard_normal((n, self.n_bodies, 2))
        p -= p.mean(1, keepdims=True)
        return np.concatenate([q.reshape(n, -1), p.reshape(n, -1)], -1)


def _pack(dq: Tensor, dp: Tensor, u: Tensor | None, system: HamiltonianSystem) -> Tensor:
    """Canonical derivative [B, 4n] from per-body dq, dp [B, n, 2], plus the input force u on p."""
    b = dq.shape[0]
    dp = dp.reshape(b, -1)
    if u is not None and u.shape[-1]:
        dp = dp + system.force(u)
    return torch.cat([dq.reshape(b, -1), dp], -1)


SYSTEMS: dict[str, Any] = {
    "mass_spring": MassSpring,
    "pendulum": Pendulum,
    "damped_pendulum": DampedPendulum,
    "two_body": lambda **kw: NBodyGravity(**{"name": "two_body", "n_bodies": 2, **kw}),
    "three_body": lambda **kw: NBodyGravity(**{
        "name": "three_body", "n_bodies": 3, "r_range": (0.9, 1.2), "orbit_noise": 0.2,
        "t_span": (0.0, 5.0), "n_points": 20, **kw}),
    "nbody_gravity": lambda **kw: NBodyGravity(**{"name": "nbody_gravity", "n_bodies": 4,
                                                  "r_range": (1.0, 1.5), "orbit_noise": 0.1,
                                                  "softening": 0.1, **kw}),
    "nbody_springs": NBodySprings,
}


def make_system(name: str, **overrides: Any) -> HamiltonianSystem:
    """The system called `name` (see SYSTEMS) with field overrides."""
    if name not in SYSTEMS:
        raise InputError(f"unknown system '{name}', expected one of {', '.join(SYSTEMS)}")
    return SYSTEMS[name](**overrides)


# ---------------------------------------------------------------------------- data
@dataclasses.dataclass
class HamiltonianDataset:
    """Trajectories of one system: clean states, noisy inputs and clean derivatives.

    Shapes: t [T]; states, x (noisy), dx (clean dx/dt at the clean states) [N, T, D].
    """

    system: str
    t: np.ndarray
    states: np.ndarray
    x: np.ndarray
    dx: np.ndarray
    seed: int

    def split(self, train_fraction: float) -> tuple[HamiltonianDataset, HamiltonianDataset]:
        """(train, test) by trajectory."""
        k = int(round(train_fraction * self.states.shape[0]))
        a = dataclasses.replace(self, states=self.states[:k], x=self.x[:k], dx=self.dx[:k])
        b = dataclasses.replace(self, states=self.states[k:], x=self.x[k:], dx=self.dx[k:])
        return a, b

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """(x [N*T, D], dx [N*T, D]) for derivative regression."""
        d = self.x.shape[-1]
        return self.x.reshape(-1, d), self.dx.reshape(-1, d)


def make_dataset(system: HamiltonianSystem, n_traj: int, seed: int = 0,
                 noise: float | None = None, solver: str = "scipy") -> HamiltonianDataset:
    """n_traj ground-truth trajectories of `system` on its t grid, with the recipe's input noise."""
    if n_traj < 1:
        raise InputError(f"n_traj must be positive, got {n_traj}")
    rng = np.random.default_rng(seed)
    t = np.linspace(*system.t_span, system.n_points)
    x0 = system.sample_initial(n_traj, rng)
    states = system.trajectories(x0, t, solver=solver)
    dx = system.numpy_field(states.reshape(-1, system.dim)).reshape(states.shape)
    sigma = system.noise if noise is None else noise
    x = states + sigma * rng.standard_normal(states.shape)
    return HamiltonianDataset(system.name, t, states, x, dx, seed)


def authors_dataset(system: HamiltonianSystem, n_traj: int = 50, seed: int = 0,
                    noise: float | None = None) -> HamiltonianDataset:
    """The HNN authors' 2-D data draw, number for number (their data.py for spring/pendulum).

    Same distribution as `make_dataset`, but the random numbers come from numpy's legacy
    `RandomState(seed)` in the authors' order (per trajectory: direction rand(2)*2-1,
    radius rand() scaled to r_range, then noise randn for q, then for p), so seed 0 gives
    exactly the paper's dataset. Why: HNN vs baseline energy errors vary ~100x between data
    draws, so a faithful reproduction needs the authors' draw as well as other seeds.
    """
    if system.dim != 2 or not hasattr(system, "r_range"):
        raise InputError(f"authors_dataset needs a 2-D system with r_range, got {system.name}")
    if n_traj < 1:
        raise InputError(f"n_traj must be positive, got {n_traj}")
    rs = np.random.RandomState(seed)
    t = np.linspace(*system.t_span, system.n_points)
    sigma = system.noise if noise is None else noise
    r0, r1 = system.r_range
    x0, noise_q, noise_p = [], [], []
    for _ in range(n_traj):  # solving consumes no random numbers, so draw all first, in order
        y0 = rs.rand(2) * 2 - 1
        radius = rs.rand() * (r1 - r0) + r0
        x0.append(y0 / np.sqrt((y0 ** 2).sum()) * radius)
        noise_q.append(rs.randn(len(t)) * sigma)
        noise_p.append(rs.randn(len(t)) * sigma)
    states = system.trajectories(np.stack(x0), t)
    x = states + np.stack([np.stack(noise_q), np.stack(noise_p)], -1)
    dx = system.numpy_field(states.reshape(-1, 2)).reshape(states.shape)
    return HamiltonianDataset(system.name, t, states, x, dx, seed)


# ------------------------------------------------------------------------ true model
class TrueHamiltonianModel:
    """The true system as a `DynamicsModel`: x [B, D], action [B, D/2] (force on p) -> next x.

    Fixed-step integration (`substeps` steps of `method` per `dt`) in torch; gradients are
    not kept (differentiable = False), as for any true simulator. The honest upper bound
    for planners on a learned model.
    """

    differentiable = False

    def __init__(self, system: HamiltonianSystem, dt: float = 0.1, substeps: int = 10,
                 method: str = "rk4"):
        self.system = system
        self.dt = dt
        self.substeps = substeps
        self.step_fn = get_integrator(method)
        self.state_dim = system.dim
        self.action_dim = system.dim // 2

    def step(self, state: Tensor, action: Tensor | None = None, params: Any = None) -> Tensor:
        """Next states [B, D] after dt with the action held constant."""
        if state.dim() != 2 or state.shape[-1] != self.state_dim:
            raise InputError(f"state must be [B, {self.state_dim}], got {tuple(state.shape)}")

        def f(x: Tensor) -> Tensor:
            return self.system.vector_field(x, action)

        h = self.dt / self.substeps
        with torch.no_grad():
            for _ in range(self.substeps):
                state = self.step_fn(f, state, h)
        return state

    def energy(self, state: Tensor) -> Tensor:
        """True energy [B]."""
        return self.system.hamiltonian(state)
