"""Speed and accuracy benchmarks; each prints its configuration, the machine and a ratio to a peer.

Run from the repository root as modules, e.g. `python -m benchmarks.plan_speed --quick`.
Shared pieces live in `benchmarks.common` (machine line, CSV output) and `benchmarks._timing`.
Headline numbers: benchmarks/RESULTS.md; rows: benchmarks/results/*.csv.
"""
