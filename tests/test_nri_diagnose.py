"""benchmarks/nri.py --diagnose: accuracies and the decoder's inferred-vs-true-graph errors of a run."""

import torch
from _bench import load_benchmark

from envs.particles.nri_data import generate_dataset
from gncontrol.nri.training import NRIConfig, train_nri

nri_bench = load_benchmark("nri")


def test_diagnose_reports_accuracies_and_graph_errors(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = tmp_path / "s.h5"
        generate_dataset(data, "springs", 3, n_train=16, n_valid=16, n_test=8, seed=0, progress=False)
        cfg = NRIConfig(data=str(data), out_dir=str(tmp_path / "run"), hidden=8, batch_size=8, epochs=1,
                        skip_first=True, threads=1)
        train_nri(cfg, progress=False)
        res = nri_bench.diagnose(str(tmp_path / "run" / "best.pt"), n=16)
    finally:
        torch.set_num_threads(threads)
    for key in ("acc_train_running_stats", "acc_train_batch_stats", "acc_valid_running_stats",
                "acc_valid_batch_stats"):
        assert 0.5 <= res[key] <= 1.0  # K = 2 labels are matched up to a swap
    wrong = res["valid_trajectories_with_an_error"]
    assert 1 <= wrong <= 16  # one epoch of a width-8 model (seeded) still gets some edges wrong
    for steps in (1, 10):
        assert res[f"sse_inferred_graph_{steps}step"] > 0 and res[f"sse_true_graph_{steps}step"] > 0
        assert 0.0 <= res[f"true_graph_better_frac_{steps}step"] <= 1.0
