"""NRI / fNRI particle simulators, vectorised over trajectories (numpy).

Recipes follow Kipf et al. 2018 (NRI) and Webb et al. 2019 (fNRI) and their public code
(the recipes are in configs/nri/): kick-drift leapfrog with dt = 1 ms, a frame recorded
every `sample_freq` steps (first frame at step `sample_freq`), elastic walls at +-5 and
forces clipped elementwise to +-100.

Array layout (S trajectories, T frames, N particles):
    loc, vel  [S, T, 2, N]   (NRI's on-disk layout)
    edges     [S, N, N]      NRI systems; edges[s, i, j] is the label of edge sender i -> receiver j
              [S, L, N, N]   multiplex fNRI systems, one label layer per interaction type
Each function also returns per-trajectory flags `walls_hit` / `clipped` [S] bool, so tests
can check energy conservation exactly where the idealised dynamics hold.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from gncontrol.errors import InputError

__all__ = [
    "MULTIPLEX_LAYERS",
    "simulate_springs",
    "simulate_charged",
    "simulate_kuramoto",
    "simulate_multiplex",
    "springs_energy",
    "charged_energy",
]

BOX_SIZE = 5.0
MAX_F = 100.0
DELTA_T = 0.001
MULTIPLEX_LAYERS = ("I", "C", "F")  # ideal springs, charges, finite (rest length 1) springs


def _check(num_sims: int, n_balls: int, n_frames: int, sample_freq: int) -> None:
    if num_sims < 1 or n_balls < 2 or n_frames < 1 or sample_freq < 1:
        raise InputError(f"need num_sims>=1, n_balls>=2, n_frames>=1, sample_freq>=1; got "
                         f"{num_sims}, {n_balls}, {n_frames}, {sample_freq}")


def _clamp(loc: np.ndarray, vel: np.ndarray, box: float | None, hit: np.ndarray) -> None:
    """Elastic reflection at +-box, in place; marks trajectories that touched a wall."""
    if box is None:
        return
    over = loc > box
    loc[over] = 2 * box - loc[over]
    vel[over] = -np.abs(vel[over])
    under = loc < -box
    loc[under] = -2 * box - loc[under]
    vel[under] = np.abs(vel[under])
    hit |= (over | under).any(axis=(1, 2))


def _pair_diff(loc: np.ndarray) -> np.ndarray:
    """r_i - r_j for every pair: [S, 2, N] -> [S, 2, N, N]."""
    return loc[:, :, :, None] - loc[:, :, None, :]


def _initial_state(rng: np.random.Generator, num_sims: int, n: int, loc_std: float,
                   vel_norm: float) -> tuple[np.ndarray, np.ndarray]:
    loc = rng.standard_normal((num_sims, 2, n)) * loc_std
    vel = rng.standard_normal((num_sims, 2, n))
    vel = vel * vel_norm / np.sqrt((vel ** 2).sum(axis=1, keepdims=True))
    return loc, vel


def _leapfrog(force_fn, loc: np.ndarray, vel: np.ndarray, n_frames: int, sample_freq: int,
              box: float | None, max_f: float | None, dt: float, progress: bool = False):
    """NRI's kick-drift integrator; returns loc/vel [S, T, 2, N] and hit/clipped flags [S]."""
    s, _, n = loc.shape
    hit = np.zeros(s, dtype=bool)
    clipped = np.zeros(s, dtype=bool)
    out_loc = np.zeros((s, n_frames, 2, n))
    out_vel = np.zeros((s, n_frames, 2, n))

    def force(x):
        f = force_fn(x)
        if max_f is not None:
            big = np.abs(f) > max_f
            clipped[big.any(axis=(1, 2))] = True
            np.clip(f, -max_f, max_f, out=f)
        return f

    _clamp(loc, vel, box, hit)
    vel += dt * force(loc)
    steps = range(1, n_frames * sample_freq + 1)
    if progress:
        from tqdm import tqdm
        steps = tqdm(steps, desc="simulate", leave=False, mininterval=1.0)
    counter = 0
    for i in steps:
        loc += dt * vel
        _clamp(loc, vel, box, hit)
        if i % sample_freq == 0:
            out_loc[:, counter], out_vel[:, counter] = loc, vel
            counter += 1
            if counter == n_frames:
                break
        vel += dt * force(loc)
    return out_loc, out_vel, hit, clipped


def _symmetric_bernoulli(rng: np.random.Generator, num_sims: int, n: int, p: float) -> np.ndarray:
    e = (rng.random((num_sims, n, n)) < p).astype(np.float64)
    e = np.tril(e, -1)
    return e + e.transpose(0, 2, 1)


def simulate_springs(num_sims: int, n_balls: int = 5, n_frames: int = 49, sample_freq: int = 100,
                     seed: int = 0, spring_prob: float = 0.5, interaction_strength: float = 0.1,
                     loc_std: float = 0.5, vel_norm: float = 0.5, box_size: float | None = BOX_SIZE,
                     max_f: float | None = MAX_F, dt: float = DELTA_T, progress: bool = False) -> dict:
    """NRI springs: each pair joined by a spring with prob. 0.5, F_i = -k sum_j e_ij (r_i - r_j)."""
    _check(num_sims, n_balls, n_frames, sample_freq)
    rng = np.random.default_rng(seed)
    edges = _symmetric_bernoulli(rng, num_sims, n_balls, spring_prob)
    loc, vel = _initial_state(rng, num_sims, n_balls, loc_std, vel_norm)
    k = -interaction_strength * edges[:, None]  # [S, 1, N, N]

    def force_fn(x):
        return (k * _pair_diff(x)).sum(axis=-1)

    out_loc, out_vel, hit, clipped = _leapfrog(force_fn, loc, vel, n_frames, sample_freq, box_size,
                                               max_f, dt, progress)
    return {"loc": out_loc, "vel": out_vel, "edges": edges.astype(np.int64), "walls_hit": hit,
            "clipped": clipped, "interaction_strength": interaction_strength}


def _coulomb(x: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """sum_j strength_ij (r_i - r_j) / |r_i - r_j|^3 for x [S, 2, N], strength [S, N, N]."""
    d = _pair_diff(x)
    r2 = (d ** 2).sum(axis=1)
    n = x.shape[-1]
    r2[:, np.arange(n), np.arange(n)] = 1.0  # diagonal: strength is 0 there
    return (strength[:, None] / r2[:, None] ** 1.5 * d).sum(axis=-1)


def simulate_charged(num_sims: int, n_balls: int = 5, n_frames: int = 49, sample_freq: int = 100,
                     seed: int = 0, charge_prob: float = 0.5, interaction_strength: float = 1.0,
                     loc_std: float = 1.0, vel_norm: float = 0.5, box_size: float | None = BOX_SIZE,
                     max_f: float | None = MAX_F, dt: float = DELTA_T, progress: bool = False) -> dict:
    """NRI charged particles: q = +-1, F_i = c sum_j q_i q_j (r_i - r_j)/|r_ij|^3; label (q_i q_j + 1)/2."""
    _check(num_sims, n_balls, n_frames, sample_freq)
    rng = np.random.default_rng(seed)
    charges = np.where(rng.random((num_sims, n_balls)) < charge_prob, 1.0, -1.0)
    qq = charges[:, :, None] * charges[:, None, :]
    idx = np.arange(n_balls)
    qq[:, idx, idx] = 0.0
    loc, vel = _initial_state(rng, num_sims, n_balls, loc_std, vel_norm)
    strength = interaction_strength * qq

    def force_fn(x):
        return _coulomb(x, strength)

    out_loc, out_vel, hit, clipped = _leapfrog(force_fn, loc, vel, n_frames, sample_freq, box_size,
                                               max_f, dt, progress)
    labels = ((qq + 1) / 2).astype(np.int64)
    labels[:, idx, idx] = 0
    return {"loc": out_loc, "vel": out_vel, "edges": labels, "charges": charges, "walls_hit": hit,
            "clipped": clipped, "interaction_strength": interaction_strength}


def simulate_kuramoto(num_sims: int, n_balls: int = 5, n_frames: int = 49, sample_freq: int = 10,
                      seed: int = 0, coupling_prob: float = 0.5, dt: float = 0.01,
                      rtol: float = 1e-6, atol: float = 1e-8) -> dict:
    """Kuramoto oscillators: dphi_j/dt = w_j + sum_i k_ij sin(phi_i - phi_j), k_ij in {0,1} directed.

    Integrated with scipy's RK45 (Dormand-Prince, as NRI's dopri5) over all trajectories at
    once; frames every `sample_freq * dt` (first at one sampling interval). Returns phase
    `phi` [S, T, N] (unwrapped), `dphi` [S, T, N], `omega` [S, N], `edges` [S, N, N].
    """
    _check(num_sims, n_balls, n_frames, sample_freq)
    rng = np.random.default_rng(seed)
    n = n_balls
    omega = rng.random((num_sims, n)) * 9.0 + 1.0
    phi0 = rng.random((num_sims, n)) * 2 * np.pi
    k = (rng.random((num_sims, n, n)) < coupling_prob).astype(np.float64)
    k[:, np.arange(n), np.arange(n)] = 0.0

    def rhs(_t, y):
        phi = y.reshape(num_sims, n)
        # sum_i k[i, j] sin(phi_i - phi_j) for receiver j
        coupling = (k * np.sin(phi[:, :, None] - phi[:, None, :])).sum(axis=1)
        return (omega + coupling).ravel()

    t_eval = dt * sample_freq * np.arange(1, n_frames + 1)
    sol = solve_ivp(rhs, (0.0, t_eval[-1]), phi0.ravel(), method="RK45", t_eval=t_eval,
                    rtol=rtol, atol=atol, max_step=dt)
    if not sol.success:
        raise RuntimeError(f"Kuramoto integration failed: {sol.message}")
    phi = sol.y.T.reshape(n_frames, num_sims, n).transpose(1, 0, 2)
    dphi = np.stack([rhs(0.0, p.ravel()).reshape(num_sims, n) for p in phi.transpose(1, 0, 2)], axis=1)
    return {"phi": phi, "dphi": dphi, "omega": omega, "edges": k.astype(np.int64)}


def simulate_multiplex(num_sims: int, n_balls: int = 5, layers: tuple[str, ...] = ("I", "C"),
                       n_frames: int = 99, sample_freq: int = 100, seed: int = 0,
                       spring_k: float = 0.1, charge_c: float = 0.2, max_springs: int = 10,
                       loc_std: float = 0.5, vel_norm: float = 0.5, box_size: float | None = BOX_SIZE,
                       max_f: float | None = MAX_F, dt: float = DELTA_T, progress: bool = False) -> dict:
    """fNRI multiplex systems: independent layers of ideal springs (I), charges (C), finite springs (F).

    I: F = -k (r_i - r_j) on ~U{0..max_springs} random pairs; C: q in {0, 1}, ~U{1..N} charged,
    F = c q_i q_j (r_i - r_j)/|r_ij|^3 (repulsive), edge = both charged; F: F = -k (1 - 1/|r_ij|)
    (r_i - r_j) (rest length 1) on ~U{0..max_springs} random pairs. `edges` [S, L, N, N].
    """
    _check(num_sims, n_balls, n_frames, sample_freq)
    bad = [x for x in layers if x not in MULTIPLEX_LAYERS]
    if bad or not layers or len(set(layers)) != len(layers):
        raise InputError(f"layers must be distinct items of {MULTIPLEX_LAYERS}, got {layers}")
    rng = np.random.default_rng(seed)
    n = n_balls
    iu, ju = np.triu_indices(n, 1)
    n_pairs = len(iu)
    idx = np.arange(n)

    def random_pairs() -> np.ndarray:
        e = np.zeros((num_sims, n, n))
        count = rng.integers(0, min(max_springs, n_pairs) + 1, size=num_sims)
        order = np.argsort(rng.random((num_sims, n_pairs)), axis=1)
        chosen = np.arange(n_pairs)[None, :] < count[:, None]
        pick = np.zeros((num_sims, n_pairs))
        np.put_along_axis(pick, order, chosen.astype(float), axis=1)
        e[:, iu, ju] = pick
        return e + e.transpose(0, 2, 1)

    edges = {}
    charges = None
    for layer in layers:
        if layer == "C":
            count = rng.integers(1, n + 1, size=num_sims)
            order = np.argsort(rng.random((num_sims, n)), axis=1)
            charges = np.zeros((num_sims, n))
            np.put_along_axis(charges, order, (np.arange(n)[None, :] < count[:, None]).astype(float), axis=1)
            qq = charges[:, :, None] * charges[:, None, :]
            qq[:, idx, idx] = 0.0
            edges["C"] = qq
        else:
            edges[layer] = random_pairs()
    loc, vel = _initial_state(rng, num_sims, n, loc_std, vel_norm)

    def force_fn(x):
        d = _pair_diff(x)
        f = np.zeros_like(x)
        if "I" in edges:
            f += (-spring_k * edges["I"][:, None] * d).sum(axis=-1)
        if "C" in edges:
            f += _coulomb(x, charge_c * edges["C"])
        if "F" in edges:
            r = np.sqrt((d ** 2).sum(axis=1, keepdims=True))
            r[:, :, idx, idx] = 1.0
            f += (-spring_k * edges["F"][:, None] * (1.0 - 1.0 / r) * d).sum(axis=-1)
        return f

    out_loc, out_vel, hit, clipped = _leapfrog(force_fn, loc, vel, n_frames, sample_freq, box_size,
                                               max_f, dt, progress)
    stacked = np.stack([edges[layer] for layer in layers], axis=1).astype(np.int64)
    return {"loc": out_loc, "vel": out_vel, "edges": stacked, "layers": tuple(layers),
            "charges": charges, "walls_hit": hit, "clipped": clipped}


def springs_energy(loc: np.ndarray, vel: np.ndarray, edges: np.ndarray,
                   interaction_strength: float = 0.1) -> np.ndarray:
    """Total energy (unit masses) of springs states loc/vel [..., 2, N], edges [..., N, N] -> [...]."""
    kinetic = 0.5 * (vel ** 2).sum(axis=(-2, -1))
    d2 = ((loc[..., :, :, None] - loc[..., :, None, :]) ** 2).sum(axis=-3)
    potential = 0.25 * interaction_strength * (edges * d2).sum(axis=(-2, -1))  # each pair counted twice
    return kinetic + potential


def charged_energy(loc: np.ndarray, vel: np.ndarray, charges: np.ndarray,
                   interaction_strength: float = 1.0) -> np.ndarray:
    """Total energy of charged states loc/vel [..., 2, N], charges [..., N] -> [...] (U = c q_i q_j / r)."""
    kinetic = 0.5 * (vel ** 2).sum(axis=(-2, -1))
    d = np.sqrt(((loc[..., :, :, None] - loc[..., :, None, :]) ** 2).sum(axis=-3))
    n = loc.shape[-1]
    qq = charges[..., :, None] * charges[..., None, :]
    d[..., np.arange(n), np.arange(n)] = np.inf
    potential = 0.5 * interaction_strength * (qq / d).sum(axis=(-2, -1))
    return kinetic + potential
