"""Options and output helpers shared by the ``mpcsim`` subcommands."""
from __future__ import annotations

import argparse
import json
import random
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..backends import Backend, make_backend


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """--input FILE [--tokens chars|words] | --stdlib-module NAME | --random N [--alphabet A] [--seed S]."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", metavar="FILE", help="a text file; tokenised by --tokens")
    src.add_argument("--stdlib-module", metavar="NAME",
                     help="the source of a Python standard-library module (e.g. argparse), read at run time; "
                          "real code under the PSF License, present on every machine")
    src.add_argument("--random", metavar="N", type=int, help="a uniformly random sequence of N tokens")
    parser.add_argument("--tokens", choices=("chars", "words"), default="chars",
                        help="tokenisation of text input (default: chars)")
    parser.add_argument("--alphabet", type=int, default=4, help="alphabet size for --random (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=("inprocess", "ray"), default="inprocess")
    parser.add_argument("--ray-address", metavar="ADDR", default=None,
                        help="join an existing Ray cluster (default: start a local one on loopback)")
    parser.add_argument("--ray-hosts", type=int, default=2, help="Ray host actors (default 2)")


def add_memory_options(parser: argparse.ArgumentParser) -> None:
    mem = parser.add_mutually_exclusive_group()
    mem.add_argument("--delta", type=float, default=None, help="local memory s = ceil(n^delta)*c words")
    mem.add_argument("--memory", type=int, default=None, help="local memory s in words")


def load_tokens(args) -> tuple[list[int], list[str], str]:
    """(token ids, vocabulary as strings, a description of the input's origin)."""
    from protocols.generators import random_sequence, text_tokens

    if args.random is not None:
        if args.random < 1:
            raise ValueError(f"--random N needs N >= 1, got {args.random}")
        if args.alphabet < 1:
            raise ValueError(f"--alphabet needs A >= 1, got {args.alphabet}")
        ids = random_sequence(args.random, args.alphabet, random.Random(args.seed))
        vocab = [str(t) for t in range(args.alphabet)]
        return list(ids), vocab, f"random: n={args.random}, alphabet={args.alphabet}, seed={args.seed}"
    if args.stdlib_module is not None:
        import importlib

        module = importlib.import_module(args.stdlib_module)
        path = getattr(module, "__file__", None)
        if not path or not path.endswith(".py"):
            raise ValueError(f"module {args.stdlib_module!r} has no Python source file")
        text = Path(path).read_text(encoding="utf-8")
        origin = f"{path} (Python {sys.version.split()[0]} standard library, PSF License)"
    else:
        path = Path(args.input)
        if not path.is_file():
            raise ValueError(f"--input {args.input}: no such file")
        text = path.read_text(encoding="utf-8", errors="replace")
        origin = str(path)
    ids, vocab = text_tokens(text, args.tokens)
    if not ids:
        raise ValueError(f"input {origin} has no tokens")
    return list(ids), list(vocab), f"{origin}, tokens={args.tokens}"


@contextmanager
def backend_from_args(args) -> Iterator[Backend]:
    if args.backend == "ray":
        backend = make_backend("ray", address=args.ray_address, num_hosts=args.ray_hosts)
    else:
        backend = make_backend("inprocess")
    try:
        yield backend
    finally:
        close = getattr(backend, "close", None)
        if close is not None:
            close()


def print_json(doc: dict) -> None:
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")


def bounds_table(checks) -> list[str]:
    """Lines 'name  measured  relation bound  holds'."""
    width = max((len(c.name) for c in checks), default=10)
    lines = []
    for c in checks:
        mark = "ok" if c.holds else "VIOLATED"
        lines.append(f"  {c.name:<{width}}  {c.measured:>12g}  {c.relation} {c.bound:<12g} {mark}   [{c.citation}]")
    return lines
