"""Options and output helpers shared by the ``mpcsim`` subcommands."""
from __future__ import annotations

import argparse
import json
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
    parser.add_argument("--tokens", choices=("chars", "words"), default=None,
                        help="tokenisation of text input (default: chars)")
    parser.add_argument("--alphabet", type=int, default=None, help="alphabet size for --random (default 4)")
    parser.add_argument("--seed", type=int, default=None, help="seed for --random (default 0)")


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=("inprocess", "ray"), default="inprocess")
    parser.add_argument("--ray-address", metavar="ADDR", default=None,
                        help="join an existing Ray cluster (default: start a local one on loopback)")
    parser.add_argument("--ray-hosts", type=int, default=None, help="Ray host actors (default 2)")


MAX_MEMORY_WORDS = 1 << 40  # a machine's memory must stay addressable with int64 word counts


def _memory_words(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_MEMORY_WORDS:
        raise argparse.ArgumentTypeError(f"memory must be in 1..2^40 words, got {value}")
    return value


def add_memory_options(parser: argparse.ArgumentParser) -> None:
    mem = parser.add_mutually_exclusive_group()
    mem.add_argument("--delta", type=float, default=None,
                     help="local memory s = ceil(n^delta)*c words (default: the smallest s the protocol fits in)")
    mem.add_argument("--memory", type=_memory_words, default=None, help="local memory s in words")
    parser.add_argument("--c", type=int, default=None, help="the constant c in s = ceil(n^delta)*c (default 1)")


def finalize_options(args) -> None:
    """Refuse options that the chosen mode would ignore, then fill in their defaults (called by
    ``main`` for every command; it looks only at the options a command has)."""
    def given(name: str) -> bool:
        return getattr(args, name, None) is not None

    if hasattr(args, "random") and hasattr(args, "tokens"):
        if args.random is not None:
            if given("tokens"):
                raise ValueError("--tokens applies to text input (--input / --stdlib-module), not to --random")
            args.alphabet = 4 if args.alphabet is None else args.alphabet
            args.seed = 0 if args.seed is None else args.seed
        else:
            for name in ("alphabet", "seed"):
                if given(name):
                    raise ValueError(f"--{name} applies to --random only")
            args.tokens = args.tokens or "chars"
    if hasattr(args, "backend") and hasattr(args, "ray_hosts"):
        if args.backend != "ray":
            for name in ("ray_address", "ray_hosts"):
                if given(name):
                    raise ValueError(f"--{name.replace('_', '-')} applies to --backend ray only")
        args.ray_hosts = 2 if args.ray_hosts is None else args.ray_hosts
    if hasattr(args, "c") and hasattr(args, "delta"):
        if given("c") and args.delta is None:
            raise ValueError("--c applies with --delta only (s = ceil(n^delta)*c); with --memory give s directly")
        args.c = 1 if args.c is None else args.c


def load_tokens(args) -> tuple[list[int], list[str], str]:
    """(token ids, vocabulary as strings, a description of the input's origin)."""
    from protocols.generators import random_sequence, text_tokens

    if args.random is not None:
        if args.random < 1:
            raise ValueError(f"--random N needs N >= 1, got {args.random}")
        if args.alphabet < 1:
            raise ValueError(f"--alphabet needs A >= 1, got {args.alphabet}")
        ids = random_sequence(args.random, args.alphabet, args.seed)
        vocab = [str(t) for t in range(args.alphabet)]
        return list(ids), vocab, f"random: n={args.random}, alphabet={args.alphabet}, seed={args.seed}"
    if args.stdlib_module is not None:
        path = stdlib_source(args.stdlib_module)
        text = _read_verbatim(path)
        origin = f"{path} (Python {sys.version.split()[0]} standard library, PSF License)"
    else:
        path = Path(args.input)
        if path.is_dir():
            raise ValueError(f"--input {args.input}: is a directory, not a file")
        if not path.is_file():
            raise ValueError(f"--input {args.input}: no such file")
        text = _read_verbatim(path)
        origin = str(path)
    ids, vocab = text_tokens(text, args.tokens)
    if not ids:
        raise ValueError(f"input {origin} has no tokens")
    return list(ids), list(vocab), f"{origin}, tokens={args.tokens}"


def _read_verbatim(path: Path) -> str:
    """The file's text exactly as stored (no newline translation); invalid UTF-8 bytes become U+FFFD."""
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        return f.read()


def stdlib_source(name: str) -> Path:
    """The source file of a standard-library module, found without importing (running) it."""
    import importlib.util
    import sysconfig

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:
        raise ValueError(f"--stdlib-module {name}: {exc}") from None
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    origin = spec.origin if spec is not None else None
    if origin is not None and not origin.endswith(".py"):
        # frozen modules (os, codecs, abc, ... in Python 3.11+) still ship their source in the stdlib
        rel = Path(*name.split("."))
        candidates = [stdlib / rel.with_suffix(".py"), stdlib / rel / "__init__.py"]
        origin = next((str(c) for c in candidates if c.is_file()), None)
    if not origin:
        raise ValueError(f"--stdlib-module {name}: no standard-library module with a Python source file by that name")
    path = Path(origin).resolve()
    if stdlib not in path.parents or "site-packages" in path.parts or "dist-packages" in path.parts:
        raise ValueError(f"--stdlib-module {name}: {path} is not part of the Python standard library ({stdlib})")
    return path


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


def _num(x) -> str:
    """Integers in full, other numbers with 6 significant digits."""
    return str(int(x)) if float(x).is_integer() else f"{x:.6g}"


def bounds_table(checks) -> list[str]:
    """Lines 'name  measured  relation bound  holds'."""
    width = max((len(c.name) for c in checks), default=10)
    lines = []
    for c in checks:
        mark = "ok" if c.holds else "VIOLATED"
        lines.append(f"  {c.name:<{width}}  {_num(c.measured):>12}  {c.relation:>2} {_num(c.bound):<12} {mark}   [{c.citation}]")
    return lines
