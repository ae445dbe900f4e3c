"""The ``mpcsim`` command. Each subcommand lives in its own module with a ``register(subparsers)``."""
from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import MPCError
from .common import finalize_options

# module name -> the subcommands it registers
SUBCOMMAND_MODULES = (
    "mpcsim.cli.run_cmd",        # mpcsim run hop | pointer-chase
    "mpcsim.cli.compile_cmd",    # mpcsim compile | check
    "mpcsim.cli.comm_cmd",       # mpcsim comm | blackboard
    "mpcsim.cli.to_mpc_cmd",     # mpcsim to-mpc
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mpcsim",
        description="Transformers as parallel computers: MPC simulation, compilers and communication bounds.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"mpcsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a subcommand still being written
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        finalize_options(args)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `mpcsim ... | head`
        sys.stderr.close()
        return 0
    except (MPCError, ValueError, OSError, RuntimeError, ImportError) as exc:
        print(f"mpcsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
