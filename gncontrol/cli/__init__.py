"""The `gncontrol` command line: one module per subcommand in this package.

Each submodule `gncontrol/cli/<name>.py` defines `HELP` (one line), `add_arguments(parser)`
and `run(args) -> int`; the subcommand's name is the module's name with '_' as '-'. Adding
a subcommand means adding a file, nothing else. Only the CLI may import envs/planners/agents,
and it does so lazily inside `run`, so `gncontrol --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from gncontrol.errors import InputError

__all__ = ["main", "build_parser"]


def _subcommand_modules():
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield info.name, importlib.import_module(f"{__name__}.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand found in this package."""
    parser = argparse.ArgumentParser(
        prog="gncontrol",
        description="Graph-network dynamics models, system identification and planning for "
        "MuJoCo / dm_control systems, plus NRI/fNRI and Hamiltonian models for particles.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _subcommand_modules():
        p = sub.add_parser(name.replace("_", "-"), help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run, _parser=p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `gncontrol` console command; bad input (InputError) exits 2 with one line,
    Ctrl-C exits 130 (the interrupted command says what it kept)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    try:
        if getattr(args, "config", None):  # a config file's values become defaults; flags win
            from gncontrol.cli._common import config_defaults

            args._parser.set_defaults(**config_defaults(args._parser, args.config))
            args = parser.parse_args(argv)
        return int(args._run(args) or 0)
    except (InputError, FileNotFoundError) as exc:  # bad input; any other exception is a bug: traceback
        print(f"gncontrol {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: the interrupted code printed its one line (what it kept)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
