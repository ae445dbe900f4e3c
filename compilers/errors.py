"""Typed errors of the compilers. Each message names the register, primitive and limit at fault."""
from __future__ import annotations


class IRTypeError(TypeError):
    """A token program is ill-typed: raised when the offending primitive is built."""


class CompileError(ValueError):
    """A well-typed program that this compiler cannot compile exactly (rejected at compile time)."""


class NumericsError(CompileError):
    """The requested context length (or dtype) is outside the range where the compiled weights are
    provably exact; the message names the binding constraint and the largest N that is exact."""


class EvaluationError(ValueError):
    """A program met an input on which its semantics are undefined (e.g. a pointer to a position
    the causal mask hides, or a categorical mean over differing values)."""
