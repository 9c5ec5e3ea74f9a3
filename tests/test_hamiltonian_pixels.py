"""Pixel datasets (HNN pendulum, HGN scenes) and the HGN model at a tiny size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs.particles.render import HGN_SCENES, hgn_dataset, pixel_pendulum_dataset, render_discs
from gncontrol.hamiltonian.hgn import GECO, HGN, HGNConfig
from gncontrol.hamiltonian.metrics import hamiltonian_variance, pixel_mse_unroll


def test_renderers_put_ink_where_the_bodies_are():
    img = render_discs(np.array([[[1.0, 1.0]]]), radius=0.3, size=32, extent=2.0)
    assert img.shape == (1, 3, 32, 32) and img.dtype == np.float32
    # world (1, 1) is the upper-right quadrant: rows < 16, cols >= 16
    red = img[0, 0]
    assert red[:16, 16:].sum() > 0.95 * red.sum() > 0
    pend = pixel_pendulum_dataset(n_traj=3, n_frames=10, seed=0)
    assert pend["frames"].shape == (3, 10, 28, 28)
    assert (pend["frames"][:, :, 14:, :].sum((-1, -2)) > pend["frames"][:, :, :14, :].sum((-1, -2))).all()
    assert np.abs(pend["states"][:, 0, 0]).max() < np.pi / 6


@pytest.mark.parametrize("scene", list(HGN_SCENES))
def test_hgn_datasets_shapes_and_motion(scene):
    d = hgn_dataset(scene, n_traj=2, n_steps=8, seed=1)
    assert d["frames"].shape == (2, 8, 3, 32, 32)
    assert float(np.abs(d["frames"][:, -1] - d["frames"][:, 0]).sum()) > 1.0  # things move


def test_hgn_shapes_reversibility_and_learning():
    torch.manual_seed(0)
    cfg = HGNConfig(encoder_frames=2, latent_channels=4, width=8)
    model = HGN(cfg)
    frames = torch.tensor(hgn_dataset("mass_spring", n_traj=4, n_steps=4, seed=0)["frames"])
    recon, states, mu, logvar = model.unroll(frames, 4)
    assert recon.shape == frames.shape and states.shape == (4, 4, 8, 4, 4)
    assert model.step(torch.zeros(2, model.state_dim)).shape == (2, model.state_dim)
    model.eval()
    s0 = torch.randn(2, 8, 4, 4, dtype=torch.float32)
    s = s0
    for _ in range(10):
        s = model.integrate_step(s)
    for _ in range(10):
        s = model.integrate_step(s, dt=-cfg.dt)
    assert float((s - s0).abs().max()) < 1e-4  # leapfrog runs backwards to the start
    model.train()
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    geco = GECO(tolerance=1e-3)
    first = None
    for _ in range(15):
        mse, kl = model.losses(frames)
        loss = geco.loss(mse, kl, pixels=3 * 32 * 32)
        first = first if first is not None else mse.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert mse.item() < 0.7 * first


def test_pixel_metrics():
    a = torch.zeros(2, 3, 3, 4, 4)
    assert pixel_mse_unroll(a, a + 0.5) == pytest.approx(0.25)
    traj = torch.randn(3, 10, 2)
    assert hamiltonian_variance(lambda x: (x ** 2).sum(-1), traj) > 0
    assert hamiltonian_variance(lambda x: x.new_ones(x.shape[0]), traj) == 0
    with pytest.raises(ValueError, match="frame shapes differ"):
        pixel_mse_unroll(a, a[:1])


def test_separable_hgn_leapfrog_preserves_volume_exactly():
    torch.manual_seed(0)
    model = HGN(HGNConfig(encoder_frames=2, latent_channels=1, width=4, separable=True)).double().eval()
    s0 = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: model.integrate_step(v.reshape(1, 2, 4, 4)).reshape(-1),
                                             s0.reshape(-1))
    assert abs(float(torch.linalg.slogdet(jac).logabsdet)) < 1e-10


def test_hgn_linear_output_trains_raw_and_evaluates_in_unit_range():
    torch.manual_seed(0)
    model = HGN(HGNConfig(encoder_frames=2, latent_channels=2, width=4, output="linear"))
    with torch.no_grad():
        model.decoder[-1].bias.fill_(-0.3)  # push raw outputs below 0
        s = torch.randn(3, 4, 4, 4)
        raw = model.decode(s)
        model.eval()
        clipped = model.decode(s)
    assert float(raw.min()) < 0  # training sees the raw output (no saturation, no dead pixels)
    assert float(clipped.min()) >= 0 and float(clipped.max()) <= 1
    assert torch.equal(clipped, raw.clamp(0, 1))
    with pytest.raises(ValueError, match="sigmoid or linear"):
        HGN(HGNConfig(output="softmax"))
