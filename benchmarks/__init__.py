"""Speed and accuracy benchmarks; each prints its configuration, the machine and a ratio to a peer.

Run from the repository root as modules, e.g. `python -m benchmarks.plan_speed --quick`.
Shared pieces live in `benchmarks.common` (machine line, CSV output) and `benchmarks._timing`.
Headline numbers: benchmarks/RESULTS.md and the curated benchmarks/results/*.csv; every run also writes
the rows it prints to `--csv PATH` (default benchmarks/results/runs/<name>.csv, <name>_quick.csv with --quick).
"""
