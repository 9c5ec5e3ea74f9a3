"""HNN, OGN/HOGN and NHF: interface, control input, invertibility and tiny learning tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs.particles.hamiltonian_systems import TrueHamiltonianModel, make_dataset, make_system
from gncontrol.dynamics import DynamicsModel, rollout
from gncontrol.hamiltonian.hnn import HNN, BaselineMLP, PixelHNN, fit_derivatives
from gncontrol.hamiltonian.nhf import NeuralHamiltonianFlow, fit_nhf
from gncontrol.hamiltonian.ogn import NBodyGraphModel, fit_one_step


def test_systems_conserve_energy_and_match_recipes():
    for name in ("mass_spring", "pendulum", "two_body"):
        sys_ = make_system(name)
        data = make_dataset(sys_, 4, seed=1)
        assert data.states.shape == (4, sys_.n_points, sys_.dim)
        e = sys_.energy_np(data.states)
        assert np.abs(e - e[:, :1]).max() < 1e-6
    damped = make_system("damped_pendulum")
    e = damped.energy_np(make_dataset(damped, 3, seed=0).states)
    assert (e[:, -1] < e[:, 0] - 1e-3).all()  # friction removes energy
    with pytest.raises(ValueError, match="unknown system"):
        make_system("four_body_magic")


def test_true_model_implements_interface_and_control_moves_it():
    sys_ = make_system("pendulum")
    model = TrueHamiltonianModel(sys_, dt=0.1)
    assert isinstance(model, DynamicsModel)
    x = torch.tensor([[0.5, 0.0]], dtype=torch.float64)
    free = rollout(model, x, torch.zeros(1, 20, 1))[-1]
    pushed = rollout(model, x, torch.ones(1, 20, 1))[-1]
    assert abs(float(sys_.hamiltonian(free) - sys_.hamiltonian(x))) < 1e-5
    assert not torch.allclose(free, pushed)


def test_hnn_step_shapes_control_and_gradients():
    torch.manual_seed(0)
    model = HNN(2, hidden=32, action_dim=1, dt=0.1)
    assert isinstance(model, DynamicsModel) and model.differentiable
    x = torch.randn(5, 2)
    u = torch.zeros(5, 1, requires_grad=True)
    nxt = model.step(x, u)
    assert nxt.shape == (5, 2)
    # the action enters as a force on p: d(next p)/du = dt * G (to first order)
    nxt[:, 1].sum().backward()
    assert u.grad.abs().min() > 0.05
    with pytest.raises(ValueError, match="state must be"):
        model.step(torch.zeros(5, 3), u)
    with pytest.raises(ValueError, match="action must be"):
        model.step(x, torch.zeros(5, 2))


def test_hnn_conserves_its_own_energy_exactly_along_the_flow():
    """dH/dt = grad H . J grad H = 0 for any H: the learned energy is a constant of motion."""
    torch.manual_seed(0)
    model = HNN(4, hidden=32).double()
    x = torch.randn(16, 4, dtype=torch.float64)
    g = torch.autograd.grad(model.hamiltonian(x.requires_grad_()).sum(), x)[0]
    dhdt = (g * model.derivative(x)).sum(-1)
    assert float(dhdt.detach().abs().max()) < 1e-10


def test_hnn_learns_mass_spring_and_keeps_energy_better_than_baseline():
    torch.manual_seed(0)
    sys_ = make_system("mass_spring")
    data = make_dataset(sys_, 10, seed=0, noise=0.0)
    x, dx = (torch.tensor(a, dtype=torch.float32) for a in data.flat())
    hnn, base = HNN(2, hidden=32), BaselineMLP(2, hidden=32)
    before = ((hnn.derivative(x) - dx) ** 2).mean().item()
    fit_derivatives(hnn, x, dx, steps=300, lr=3e-3)
    fit_derivatives(base, x, dx, steps=300, lr=3e-3)
    after = ((hnn.derivative(x) - dx) ** 2).mean().item()
    assert after < 0.1 * before
    x0 = torch.tensor([[0.8, 0.0]])
    h0 = float(sys_.hamiltonian(x0))
    hnn.dt = base.dt = 0.1
    xh, xb = x0, x0
    eh, eb = [], []
    for _ in range(300):  # 30 time units, 10x the training horizon
        xh, xb = hnn.step(xh).detach(), base.step(xb).detach()
        eh.append(float(sys_.hamiltonian(xh)) - h0)
        eb.append(float(sys_.hamiltonian(xb)) - h0)
    assert np.mean(np.square(eh)) < np.mean(np.square(eb))


def test_pixel_hnn_loss_decreases():
    torch.manual_seed(0)
    model = PixelHNN(2 * 64, latent_dim=2, hidden=32)
    frames = torch.rand(32, 128)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    first = None
    for _ in range(60):
        loss, parts = model.loss(frames, frames.roll(1, 0))
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.8 * first and set(parts) == {"ae", "cc", "hnn"}
    assert model.step(torch.zeros(3, 2)).shape == (3, 2)


@pytest.mark.parametrize("kind", ["delta", "ogn", "hogn"])
def test_nbody_graph_models_interface(kind):
    torch.manual_seed(0)
    model = NBodyGraphModel(3, kind, hidden=16, dt=0.05, action_dim=6)
    x = torch.randn(4, 12)
    assert model.step(x, torch.zeros(4, 6)).shape == (4, 12)
    # permuting the bodies permutes the prediction (a GN is permutation equivariant)
    perm = torch.tensor([2, 0, 1])
    idx = torch.cat([(perm[:, None] * 2 + torch.arange(2)).reshape(-1),
                     6 + (perm[:, None] * 2 + torch.arange(2)).reshape(-1)])
    torch.testing.assert_close(model.step(x[:, idx]), model.step(x)[:, idx], atol=1e-5, rtol=1e-4)
    if kind != "delta":
        u = torch.zeros(4, 6, requires_grad=True)
        model.step(x, u)[:, 6:].sum().backward()
        assert u.grad.abs().min() > 0.01


def test_hogn_learned_energy_is_conserved_by_its_flow():
    torch.manual_seed(0)
    model = NBodyGraphModel(3, "hogn", hidden=16).double()
    x = torch.randn(8, 12, dtype=torch.float64, requires_grad=True)
    g = torch.autograd.grad(model.hamiltonian(x).sum(), x)[0]
    assert float((g * model.derivative(x)).sum(-1).abs().max().detach()) < 1e-10


def test_hogn_fits_springs_one_step():
    torch.manual_seed(0)
    sys_ = make_system("nbody_springs", n_bodies=3, t_span=(0.0, 2.0), n_points=21)
    data = make_dataset(sys_, 6, seed=0, solver="rk4", noise=0.0)
    x = torch.tensor(data.states[:, :-1].reshape(-1, 12), dtype=torch.float32)
    xn = torch.tensor(data.states[:, 1:].reshape(-1, 12), dtype=torch.float32)
    model = NBodyGraphModel(3, "hogn", hidden=32, dt=0.1)
    losses = fit_one_step(model, x, xn, steps=60, batch_size=32, lr=3e-3)
    identity = float(((x - xn) ** 2).mean())
    assert np.mean(losses[-10:]) < 0.5 * identity


def test_nhf_inverts_to_float_precision_with_unit_jacobian():
    torch.manual_seed(0)
    flow = NeuralHamiltonianFlow(d=2, stages=2, hidden=16).double()
    q, p = torch.randn(32, 2, dtype=torch.float64), torch.randn(32, 2, dtype=torch.float64)
    q1, p1 = flow.forward_flow(q, p)
    q0, p0 = flow.inverse_flow(q1, p1)
    assert float((q0 - q).abs().max().detach()) < 1e-12 and float((p0 - p).abs().max().detach()) < 1e-12
    assert float((q1 - q).abs().max().detach()) > 1e-3  # the flow actually moved the points
    z = torch.randn(4, dtype=torch.float64)

    def f(v):
        a, b = flow.forward_flow(v[None, :2], v[None, 2:])
        return torch.cat([a, b], -1)[0]

    jac = torch.autograd.functional.jacobian(f, z)
    logdet = torch.linalg.slogdet(jac).logabsdet
    assert abs(float(logdet)) < 1e-10


def test_nhf_learns_a_shifted_gaussian():
    torch.manual_seed(0)
    data = torch.randn(512, 2) * 0.5 + torch.tensor([1.5, -1.0])
    flow = NeuralHamiltonianFlow(d=2, stages=2, hidden=32)
    curve = fit_nhf(flow, data, steps=150, batch_size=128, lr=3e-3)
    assert np.mean(curve[-20:]) > np.mean(curve[:10]) + 0.5
