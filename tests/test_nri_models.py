"""NRI / fNRI / sfNRI models: fNRI Table 3 parameter counts, decoder semantics, dynamics interface."""

import pytest
import torch

from gncontrol.dynamics import DynamicsModel, rollout
from gncontrol.errors import InputError
from gncontrol.nri.fnri import FNRI, SFNRI
from gncontrol.nri.model import (
    NRI,
    MLPDecoder,
    NRIDynamics,
    build_decoder,
    build_encoder,
    count_parameters,
    fully_connected,
    kl_categorical,
)
from gncontrol.nri.training import NRIConfig, build_model

# fNRI Table 3 (encoder / decoder parameters, hidden 256, 49 frames x 4 features)
TABLE3 = [
    ("I+C NRI K=4", NRIConfig(model="nri", edge_types=4), 710_660, 406_020),
    ("I+C fNRI 2+2", NRIConfig(model="fnri", layer_sizes=[2, 2]), 710_660, 406_020),
    ("I+C sfNRI K=2", NRIConfig(model="sfnri", edge_types=2), 710_146, 269_828),
    ("I+C+F NRI K=8", NRIConfig(model="nri", edge_types=8), 711_688, 678_404),
    ("I+C+F fNRI 2+2+2", NRIConfig(model="fnri", layer_sizes=[2, 2, 2]), 711_174, 542_212),
    ("I+C+F sfNRI K=3", NRIConfig(model="sfnri", edge_types=3), 710_403, 337_924),
]


@pytest.mark.parametrize("name,cfg,n_enc,n_dec", TABLE3, ids=[t[0] for t in TABLE3])
def test_parameter_counts_match_fnri_table3(name, cfg, n_enc, n_dec):
    model = build_model(cfg)
    assert count_parameters(model.encoder) == n_enc
    assert count_parameters(model.decoder) == n_dec


def test_fully_connected_order_matches_data_layout():
    send, recv = fully_connected(4)
    pairs = [(int(s), int(r)) for s, r in zip(send, recv)]
    assert pairs == [(i, j) for i in range(4) for j in range(4) if i != j]


def _small(k=2, skip=()):
    torch.manual_seed(0)
    return NRI(build_encoder("mlp", 12, 4, 16, k), build_decoder("mlp", 4, k, 16, skip_types=skip), k)


def test_teacher_forcing_feeds_ground_truth_every_m_steps():
    m = _small().eval()
    x = torch.randn(2, 5, 12, 4)
    z = torch.softmax(torch.randn(2, 20, 2), -1)
    one = m.decoder(x, z, pred_steps=1)
    ref = m.decoder.single_step(x.transpose(1, 2)[:, :-1], z[:, None].expand(2, 11, 20, 2)).transpose(1, 2)
    torch.testing.assert_close(one, ref)
    four = m.decoder(x, z, pred_steps=4)
    # frames 1, 5, 9 come from ground truth at 0, 4, 8 (one step), frame 2 from the prediction of 1
    torch.testing.assert_close(four[:, :, [0, 4, 8]], one[:, :, [0, 4, 8]])
    two = m.decoder.single_step(one[:, :, 0], z)
    torch.testing.assert_close(four[:, :, 1], two)
    assert not torch.allclose(four[:, :, 1], one[:, :, 1])


def test_skip_first_type_sends_no_messages():
    m = _small(skip=(0,)).eval()
    x = torch.randn(1, 5, 4)
    z = torch.zeros(1, 20, 2)
    z[..., 0] = 1.0  # every edge is the non-edge type
    y = m.decoder.single_step(x, z)
    x2 = x.clone()
    x2[0, 1:] += 1.0  # moving the other objects changes nothing for object 0
    torch.testing.assert_close(m.decoder.single_step(x2, z)[0, 0], y[0, 0])
    z[..., 0], z[..., 1] = 0.0, 1.0
    assert not torch.allclose(m.decoder.single_step(x2, z)[0, 0], y[0, 0])


def test_gumbel_soft_in_training_hard_in_eval_and_kl():
    m = _small()
    logits = torch.randn(3, 20, 2)
    soft, probs = m.latent(logits, hard=False)
    hard, _ = m.latent(logits, hard=True)
    assert ((hard == 0) | (hard == 1)).all() and (hard.sum(-1) == 1).all()
    assert ((soft > 0) & (soft < 1)).any()
    torch.testing.assert_close(soft.sum(-1), torch.ones(3, 20))
    uniform = torch.full((3, 20, 2), 0.5)
    assert kl_categorical(uniform, 5) < kl_categorical(probs, 5) + 1e-6  # uniform posterior: minimal KL
    prior = NRI(None, m.decoder, 2, prior=[0.9, 0.1])
    assert prior.kl(torch.tensor([[[0.9, 0.1]]]), 1).abs() < 1e-6


def test_fnri_and_sfnri_latents():
    enc, dec = build_encoder("mlp", 12, 4, 16, 4), build_decoder("mlp", 4, 4, 16)
    f = FNRI(enc, dec, [2, 2])
    z, p = f.latent(torch.randn(2, 20, 4), hard=True)
    torch.testing.assert_close(z.sum(-1), torch.full((2, 20), 2.0))
    assert f.edge_labels(torch.randn(2, 20, 4)).shape == (2, 20, 2)
    s = SFNRI(build_encoder("mlp", 12, 4, 16, 2), build_decoder("mlp", 4, 2, 16), 2)
    z, _ = s.latent(torch.randn(2, 20, 2), hard=False)
    assert ((z > 0) & (z < 1)).all() and s.kl(z, 5) == 0
    out = s(torch.randn(2, 5, 12, 4), pred_steps=3)
    assert out["preds"].shape == (2, 5, 11, 4)


def test_cnn_encoder_and_rnn_decoder_shapes_and_burn_in():
    x = torch.randn(2, 5, 20, 4)
    m = NRI(build_encoder("cnn", 20, 4, 16, 2), build_decoder("rnn", 4, 2, 16), 2)
    out = m(x, pred_steps=5)
    assert out["logits"].shape == (2, 20, 2) and out["preds"].shape == (2, 5, 19, 4)
    # during burn-in predictions do not depend on later ground truth
    x2 = x.clone()
    x2[:, :, 16:] += 1.0
    m.eval()
    a = m.decoder(x, out["z"], burn_in_steps=14)
    b = m.decoder(x2, out["z"], burn_in_steps=14)
    torch.testing.assert_close(a, b)


def test_nri_dynamics_interface_rollout_and_gradients():
    m = _small().eval()
    dyn = NRIDynamics(m.decoder, 5, 4)
    assert isinstance(dyn, DynamicsModel) and dyn.differentiable
    x0 = torch.randn(3, 5, 4, requires_grad=True)
    z = torch.softmax(torch.randn(3, 20, 2), -1)
    states = rollout(dyn, x0.reshape(3, 20), torch.zeros(3, 6, 1), z)
    ref = m.decoder.rollout(x0, z, 6)
    torch.testing.assert_close(torch.stack(states, 1).reshape(3, 6, 5, 4), ref.transpose(1, 2))
    states[-1].sum().backward()
    assert x0.grad is not None and x0.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        dyn.step(torch.randn(3, 19), None, z)
    with pytest.raises(ValueError):
        NRIDynamics(build_decoder("rnn", 4, 2, 8), 5, 4)
    assert isinstance(m.decoder, MLPDecoder)


def test_fnri_honours_a_per_layer_prior_and_sfnri_refuses_one():
    # issue 27 item 9: build_model dropped cfg.prior for fNRI without a word (uniform KL instead)
    prior = [0.9, 0.1, 0.6, 0.4]  # one distribution per layer, concatenated like the logits
    model = build_model(NRIConfig(model="fnri", layer_sizes=[2, 2], hidden=8, prior=prior))
    probs = torch.randn(3, 20, 2, 2).softmax(-1).reshape(3, 20, 4)  # each layer's two types sum to 1
    log_p = torch.tensor(prior).log()
    want = (kl_categorical(probs[..., :2], 5, log_p[:2]) + kl_categorical(probs[..., 2:], 5, log_p[2:]))
    torch.testing.assert_close(model.kl(probs, 5), want)
    assert model.kl(torch.tensor([[prior]]), 1).abs() < 1e-6  # posterior = prior: zero KL
    uniform = build_model(NRIConfig(model="fnri", layer_sizes=[2, 2], hidden=8))
    assert not torch.allclose(uniform.kl(probs, 5), want)
    with pytest.raises(InputError, match="layer"):
        build_model(NRIConfig(model="fnri", layer_sizes=[2, 2], hidden=8, prior=[0.5, 0.3, 0.1, 0.1]))
    with pytest.raises(InputError, match="sfnri"):
        build_model(NRIConfig(model="sfnri", edge_types=2, hidden=8, prior=[0.9, 0.1]))
