"""A model is used only on the system it was trained on, unless the user asks for zero-shot use."""

import pytest

from gncontrol.cli import main
from gncontrol.system_signature import check_trained_on, topology_signature


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sig")
    for task in ("pendulum-swingup", "cartpole-swingup"):
        data = root / f"{task}.h5"
        assert main(["collect", "--task", task, "--episodes", "3", "--steps", "12", "--out", str(data),
                     "--no-progress"]) == 0
        assert main(["train", "--data", str(data), "--steps", "2", "--latent", "8", "--hidden", "8",
                     "--batch-size", "4", "--val-fraction", "0.34", "--out", str(root / task)]) == 0
    return root


def test_model_refused_on_another_system_in_evaluate_and_plan(runs, capsys):
    pend, cart = str(runs / "pendulum-swingup" / "model.pt"), str(runs / "cartpole-swingup" / "model.pt")
    capsys.readouterr()
    assert main(["evaluate", "--model", pend, "--data", str(runs / "cartpole-swingup.h5"), "--horizons", "2",
                 "--starts", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained on pendulum-swingup" in err[0] and "--allow-other-system" in err[0]
    assert main(["evaluate", "--model", pend, "--data", str(runs / "pendulum-swingup.h5"), "--horizons", "2",
                 "--starts", "1"]) == 0
    assert main(["evaluate", "--model", pend, "--data", str(runs / "cartpole-swingup.h5"), "--horizons", "2",
                 "--starts", "1", "--allow-other-system"]) == 0  # zero-shot stays possible
    plan = ["plan", "--task", "cartpole-swingup", "--planner", "random", "--samples", "4", "--horizon", "2",
            "--steps", "2", "--no-video", "--out", str(runs / "plan")]
    capsys.readouterr()
    assert main(plan + ["--model", pend]) == 2
    assert main(plan + ["--model", cart, pend]) == 2  # an ensemble with a member of another system
    err = capsys.readouterr().err
    assert err.count("error:") == 2 and f"--model {pend}" in err
    assert main(plan + ["--model", cart]) == 0


def test_signature_ignores_parameters_and_old_checkpoints_compare_names():
    a = topology_signature(3, [0, 1], [1, 2], [0, -1], (19, 23, 12))
    assert a == topology_signature(3, [0, 1], [1, 2], [0, -1], (19, 23, 12))
    assert a["digest"] != topology_signature(3, [0, 1], [1, 2], [-1, 0], (19, 23, 12))["digest"]  # other actuator
    new = {"system_signatures": [{"name": "x", **a}]}
    assert check_trained_on(new, "y", a)  # same topology under another task name (e.g. cartpole-balance)
    old = {"systems": ["cartpole-swingup"]}
    assert check_trained_on(old, "cartpole-swingup", a)
    with pytest.raises(ValueError, match="compared by name"):
        check_trained_on(old, "pendulum-swingup", a)
    assert check_trained_on(old, "pendulum-swingup", a, allow_other=True) is False


def test_resume_refuses_other_model_options_and_other_data(runs, capsys):
    pend_data, cart_data = str(runs / "pendulum-swingup.h5"), str(runs / "cartpole-swingup.h5")
    out = str(runs / "pendulum-swingup")
    base = ["train", "--steps", "4", "--hidden", "8", "--batch-size", "4", "--val-fraction", "0.34", "--out", out,
            "--resume"]
    capsys.readouterr()
    assert main(base + ["--data", pend_data, "--latent", "16"]) == 2  # checkpoint has latent 8
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "latent 8 -> 16" in err[0] and "--overwrite" in err[0]
    assert main(base + ["--data", cart_data, "--latent", "8"]) == 2
    err = capsys.readouterr().err
    assert "data ['pendulum-swingup'] -> ['cartpole-swingup']" in err
    assert main(base + ["--data", pend_data, "--latent", "8", "--lr", "0.01"]) == 2
    assert "lr 0.001 -> 0.01" in capsys.readouterr().err
    assert main(base + ["--data", pend_data, "--latent", "8"]) == 0  # same options: resumes to step 4
