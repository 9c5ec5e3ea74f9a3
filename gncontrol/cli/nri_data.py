"""`gncontrol nri-data`: simulate an NRI / fNRI dataset (published sizes by default) to HDF5."""

from __future__ import annotations

import argparse

from gncontrol.cli._options import nonnegative_int, positive_int

HELP = "simulate an NRI/fNRI particle dataset (springs, charged, kuramoto, ic, icf) to HDF5"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Dataset options; defaults are the papers' sizes (50k / 10k / 10k, 5 objects)."""
    parser.add_argument("--system", default="springs", help="springs | charged | kuramoto | ic | icf")
    parser.add_argument("--out", required=True, help="output .h5 file (written atomically)")
    parser.add_argument("--n-balls", type=positive_int, default=5)
    parser.add_argument("--n-train", type=positive_int, default=50_000)
    parser.add_argument("--n-valid", type=positive_int, default=10_000)
    parser.add_argument("--n-test", type=positive_int, default=10_000)
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="seed (>= 0)")
    parser.add_argument("--quick", action="store_true", help="small sizes (2000/500/500) for smoke runs")


def run(args: argparse.Namespace) -> int:
    """Generates the dataset and prints its normalisation statistics."""
    from envs.particles.nri_data import generate_dataset
    from gncontrol.cli._common import check_output_file

    check_output_file(args.out, "--out")
    sizes = (2000, 500, 500) if args.quick else (args.n_train, args.n_valid, args.n_test)
    attrs = generate_dataset(args.out, args.system, args.n_balls, *sizes, seed=args.seed)
    print(f"wrote {args.out}: system={attrs['system']} n_balls={attrs['n_balls']} sizes={sizes} "
          f"layers={attrs['layers']} norm={attrs['norm']}")
    return 0
