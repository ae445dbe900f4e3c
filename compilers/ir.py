"""The token-program IR: per-position registers and primitives whose attention form is known.

A token program computes, for every position i of a sequence, registers from the input token
X_i and the position i. Each primitive has a known transformer form (P2 §4, App. D):

* ``tokens`` / ``indices``      the input token and the position (the embedding);
* ``Shift``, ``Map``, ``SequenceMap``, ``Linear``
                                element-wise maps (an MLP: exact lookup tables over finite domains,
                                ReLU arithmetic on bounded integers), or folded into the embedding
                                when they depend on the token alone or on the position alone;
* ``Aggregate(Select(...))``    the mean of a register over the positions a selector picks (one
                                attention head, exact by hardmax, P2 Lemma A.2); ``LookUp`` is the
                                special case "read at the position a pointer register names"
                                (P2 Lemma D.1);
* ``LastOccurrence``            the value at the largest i′ ≤ i with key(i′) = query(i), or the
                                start token's null value if there is none (P2 Lemma D.2);
* ``SelectorWidth``             how many positions a selector picks (tracr's primitive).

⊥ ("no match") is an explicit value, ``BOTTOM``: a lookup that falls on the start token yields ⊥
for categorical registers (0 for numbers, position 0 for pointers). Maps propagate ⊥.

Registers are immutable expressions, type-checked when built (``IRTypeError`` names the register
and the primitive). Their names come from an explicit label or from their content (operator,
parameters and children), never from a construction counter, so the residual layout does not
depend on the order in which a program was written.
"""
from __future__ import annotations

import enum
import hashlib
import itertools
import math
import operator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, ClassVar, Hashable, Iterator, Sequence

from .errors import IRTypeError

BOTTOM = None  # ⊥: "no match"; an explicit value of categorical registers

MAX_TABLE = 1 << 16  # largest finite domain a Map / SequenceMap tabulates (one MLP unit per entry)


# ---------------------------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------------------------
class Kind(enum.Enum):
    CATEGORICAL = "categorical"  # a value from a finite set (one-hot)
    NUMERIC = "numeric"          # a number (scalar or thermometer code)
    POINTER = "pointer"          # a position 0..N (0 = the start token, i.e. ⊥)


@dataclass(frozen=True)
class NBound:
    """An affine function c0 + cn·N of the context length N (bounds known only at compile time)."""

    c0: float = 0
    cn: float = 0

    def at(self, n: int) -> float:
        return self.c0 + self.cn * n

    def __add__(self, other: "NBound") -> "NBound":
        return NBound(self.c0 + other.c0, self.cn + other.cn)

    def scaled(self, a: float) -> "NBound":
        return NBound(a * self.c0, a * self.cn)

    @property
    def fixed(self) -> bool:
        return self.cn == 0

    def __str__(self) -> str:
        if self.cn == 0:
            return _num(self.c0)
        lead = "N" if self.cn == 1 else f"{_num(self.cn)}·N"
        return lead if self.c0 == 0 else f"{lead}{'+' if self.c0 > 0 else '-'}{_num(abs(self.c0))}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True)
class ValueType:
    """The type of a register: its kind, and its finite value set (categorical) or bounds
    (numeric; pointers range over 0..N)."""

    kind: Kind
    values: tuple = ()
    lo: NBound = NBound()
    hi: NBound = NBound()
    integer: bool = True

    @staticmethod
    def categorical(values: Sequence[Hashable]) -> "ValueType":
        return ValueType(Kind.CATEGORICAL, tuple(values))

    @staticmethod
    def numeric(lo: NBound | float, hi: NBound | float, integer: bool) -> "ValueType":
        lo = lo if isinstance(lo, NBound) else NBound(lo)
        hi = hi if isinstance(hi, NBound) else NBound(hi)
        return ValueType(Kind.NUMERIC, (), lo, hi, integer)

    @staticmethod
    def pointer() -> "ValueType":
        return ValueType(Kind.POINTER, (), NBound(0), NBound(0, 1), True)

    @property
    def has_bottom(self) -> bool:
        return self.kind is Kind.CATEGORICAL and BOTTOM in self.values

    @cached_property
    def proper_values(self) -> tuple:
        """The categorical values other than ⊥ (the one-hot directions)."""
        return tuple(v for v in self.values if v is not BOTTOM)

    @cached_property
    def _proper_index(self) -> dict:
        return {v: j for j, v in enumerate(self.proper_values)}

    def index_of(self, value: Hashable) -> int:
        """The one-hot direction of a proper value (constant time; ``proper_values.index`` is linear)."""
        return self._proper_index[value]

    def with_bottom(self) -> "ValueType":
        """The type of a read that may fall on the start token: ⊥ joins a categorical value set;
        numbers may become 0."""
        if self.kind is Kind.CATEGORICAL:
            return self if self.has_bottom else ValueType(Kind.CATEGORICAL, (BOTTOM,) + self.values)
        if self.kind is Kind.NUMERIC:
            return ValueType(Kind.NUMERIC, (), _min_bound(self.lo, NBound(0)), _max_bound(self.hi, NBound(0)), self.integer)
        return self

    def numeric_view(self) -> tuple[NBound, NBound, bool] | None:
        """(lo, hi, integer) of the register read as a number, or None if it has no numeric
        reading (⊥ reads as 0)."""
        if self.kind is Kind.NUMERIC:
            return self.lo, self.hi, self.integer
        if self.kind is Kind.POINTER:
            return NBound(0), NBound(0, 1), True
        vals = self.proper_values
        if not vals or not all(_is_number(v) for v in vals):
            return None
        nums = list(vals) + ([0] if self.has_bottom else [])
        return NBound(min(nums)), NBound(max(nums)), all(float(v).is_integer() for v in nums)

    def finite_domain(self) -> tuple | None:
        """The values a Map may tabulate: categorical values, or the integers of a numeric type
        whose bounds do not depend on N."""
        if self.kind is Kind.CATEGORICAL:
            return self.values
        if self.kind is Kind.NUMERIC and self.integer and self.lo.fixed and self.hi.fixed:
            lo, hi = int(math.floor(self.lo.c0)), int(math.ceil(self.hi.c0))
            if hi - lo + 1 <= MAX_TABLE:
                return tuple(range(lo, hi + 1))
        return None

    def __str__(self) -> str:
        if self.kind is Kind.CATEGORICAL:
            return "categorical{" + ",".join("⊥" if v is BOTTOM else repr(v) for v in self.values) + "}"
        if self.kind is Kind.POINTER:
            return "pointer[0..N]"
        return f"{'int' if self.integer else 'real'}[{self.lo}..{self.hi}]"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _min_bound(a: NBound, b: NBound) -> NBound:
    """A lower bound valid for every N ≥ 1 (both bounds affine with N ≥ 1)."""
    return NBound(min(a.c0, b.c0), min(a.cn, b.cn))


def _max_bound(a: NBound, b: NBound) -> NBound:
    return NBound(max(a.c0, b.c0), max(a.cn, b.cn))


# ---------------------------------------------------------------------------------------------
# Comparisons (tracr's selector predicates: predicate(key, query))
# ---------------------------------------------------------------------------------------------
class Comparison(enum.Enum):
    EQ = "=="
    NEQ = "!="
    LT = "<"
    LEQ = "<="
    GT = ">"
    GEQ = ">="
    TRUE = "true"
    FALSE = "false"

    def __call__(self, key: Any, query: Any) -> bool:
        """Whether query position i selects key position j, given key_j and query_i (⊥ never
        matches anything except under TRUE)."""
        if self is Comparison.TRUE:
            return True
        if self is Comparison.FALSE or key is BOTTOM or query is BOTTOM:
            return False
        return _COMPARE[self.value](key, query)


_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
            ">=": operator.ge}


# ---------------------------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------------------------
_NAME_LIMIT = 40


@dataclass(frozen=True, eq=False)
class Expr:
    """A per-position register. Subclasses define ``op``, ``children`` and ``params``; ``type`` is
    inferred (and checked) when the expression is built."""

    op: ClassVar[str] = "expr"
    label: str | None = field(default=None, kw_only=True)
    type: ValueType = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.label is not None and (not isinstance(self.label, str) or not self.label.isidentifier()):
            raise IRTypeError(f"{self.op}: label {self.label!r} must be an identifier")
        object.__setattr__(self, "type", self._infer_type())

    def children(self) -> tuple["Expr", ...]:
        return ()

    def params(self) -> tuple:
        return ()

    def _infer_type(self) -> ValueType:
        raise NotImplementedError

    @cached_property
    def key(self) -> str:
        """Structural identity: a digest of operator, label, parameters and the children's keys (not
        object identity). Built from the children's digests, so it costs O(size) even when
        sub-expressions are shared exponentially often."""
        return _digest((self.op, self.label, self.params(), tuple(c.key for c in self.children())))

    @cached_property
    def name(self) -> str:
        """The register's name: its label, or a name derived from its content."""
        if self.label is not None:
            return self.label
        shown = self._name_params()
        if shown is not None:
            inner = ",".join([c.name for c in self.children()] + [_show(p) for p in shown])
            candidate = f"{self.op}({inner})" if inner else self.op
            if len(candidate) <= _NAME_LIMIT:
                return candidate
        return f"{self.op}_{self.key[:8]}"

    def _name_params(self) -> tuple | None:
        """Parameters that, with the children's names, identify the register (None: use a digest)."""
        return self.params()

    def describe(self) -> str:
        """One line: the primitive and its operands (registers printed as %name)."""
        args = [f"%{c.name}" for c in self.children()] + [_show(p) for p in self._shown_params()]
        return f"{self.op}({', '.join(args)})"

    def _shown_params(self) -> tuple:
        return self.params()

    def _where(self) -> str:
        return f"{self.op} {self.label!r}" if self.label else self.op


def _digest(parts: tuple) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _show(p: Any) -> str:
    if isinstance(p, Comparison):
        return p.name
    if isinstance(p, tuple) and len(p) > 6:
        return f"<{len(p)} entries>"
    return repr(p)


@dataclass(frozen=True, eq=False)
class Tokens(Expr):
    """The input token X_i (categorical over ``vocab``). The start token is not in the vocab."""

    op: ClassVar[str] = "tokens"
    vocab: tuple = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "vocab", tuple(self.vocab))
        super().__post_init__()

    def params(self) -> tuple:
        return (self.vocab,)

    @cached_property
    def name(self) -> str:
        return self.label or "tokens"

    def _infer_type(self) -> ValueType:
        if not self.vocab:
            raise IRTypeError("tokens: the vocabulary is empty")
        if BOTTOM in self.vocab:
            raise IRTypeError("tokens: None is reserved for ⊥ and cannot be a token")
        if len(set(self.vocab)) != len(self.vocab):
            raise IRTypeError(f"tokens: the vocabulary {self.vocab!r} has repeated entries")
        return ValueType.categorical(self.vocab)


@dataclass(frozen=True, eq=False)
class Indices(Expr):
    """The position i (1..n; the start token is position 0)."""

    op: ClassVar[str] = "indices"

    @cached_property
    def name(self) -> str:
        return self.label or "indices"

    def _infer_type(self) -> ValueType:
        return ValueType.pointer()


def indices() -> Indices:
    return Indices()


@dataclass(frozen=True, eq=False)
class Shift(Expr):
    """The pointer x + offset (offset ≤ 0), clipped to 0 (the start token) below: Shift(indices, −1) = i − 1."""

    op: ClassVar[str] = "shift"
    x: Expr = None
    offset: int = 0

    def children(self) -> tuple[Expr, ...]:
        return (self.x,)

    def params(self) -> tuple:
        return (self.offset,)

    def _infer_type(self) -> ValueType:
        _need_expr(self, "x", self.x)
        if self.x.type.kind is not Kind.POINTER:
            raise IRTypeError(f"{self._where()}: register '{self.x.name}' is {self.x.type}, not a pointer")
        if not isinstance(self.offset, int) or isinstance(self.offset, bool):
            raise IRTypeError(f"{self._where()}: offset must be an int, got {self.offset!r}")
        if self.offset > 0:  # a later position: unreadable under the causal mask, and past n it does not exist
            raise IRTypeError(f"{self._where()}: offset {self.offset} > 0 points forward; only offsets <= 0 "
                              "have an exact transformer form (pointers may not pass the current position)")
        return ValueType.pointer()


class _Tabulated:
    """Shared by ``Map`` and ``SequenceMap``: the function is identified by its table (``params``),
    shown by its name, and named by content (no explicit name parameters)."""

    def params(self) -> tuple:
        return (self.table, self.numeric)

    def _shown_params(self) -> tuple:
        return (getattr(self.fn, "__name__", "fn"),)

    def _name_params(self) -> tuple | None:
        return None


@dataclass(frozen=True, eq=False)
class Map(_Tabulated, Expr):
    """fn applied position-wise to x (finite domain; ⊥ maps to ⊥, or to 0 when numeric). The
    function is stored as its table, so two maps with equal tables are the same register."""

    op: ClassVar[str] = "map"
    fn: Callable = None
    x: Expr = None
    numeric: bool = False
    table: tuple = field(init=False, repr=False)

    def children(self) -> tuple[Expr, ...]:
        return (self.x,)

    def _infer_type(self) -> ValueType:
        _need_expr(self, "x", self.x)
        domain = _domain_of(self, self.x)
        table = tuple((v, _apply(self, self.fn, (v,))) for v in domain)
        object.__setattr__(self, "table", table)
        return _image_type(self, [out for _, out in table], self.numeric)


@dataclass(frozen=True, eq=False)
class SequenceMap(_Tabulated, Expr):
    """fn(x, y) position-wise over the finite product domain (⊥ if either input is ⊥)."""

    op: ClassVar[str] = "sequence_map"
    fn: Callable = None
    x: Expr = None
    y: Expr = None
    numeric: bool = False
    table: tuple = field(init=False, repr=False)

    def children(self) -> tuple[Expr, ...]:
        return (self.x, self.y)

    def _infer_type(self) -> ValueType:
        _need_expr(self, "x", self.x)
        _need_expr(self, "y", self.y)
        dx, dy = _domain_of(self, self.x), _domain_of(self, self.y)
        if len(dx) * len(dy) > MAX_TABLE:
            raise IRTypeError(f"{self._where()}: the domain of ('{self.x.name}', '{self.y.name}') has "
                              f"{len(dx) * len(dy)} pairs, more than the {MAX_TABLE} an MLP table may hold")
        table = tuple(((a, b), _apply(self, self.fn, (a, b))) for a, b in itertools.product(dx, dy))
        object.__setattr__(self, "table", table)
        return _image_type(self, [out for _, out in table], self.numeric)


@dataclass(frozen=True, eq=False)
class Linear(Expr):
    """Σ coeff·x + bias over registers read as numbers (ReLU arithmetic; exact on integers)."""

    op: ClassVar[str] = "linear"
    terms: tuple = ()
    bias: float = 0

    def __post_init__(self) -> None:
        terms = self.terms.items() if isinstance(self.terms, dict) else self.terms
        object.__setattr__(self, "terms", tuple((x, c) for x, c in terms))
        super().__post_init__()

    def children(self) -> tuple[Expr, ...]:
        return tuple(x for x, _ in self.terms)

    def params(self) -> tuple:
        return (tuple(c for _, c in self.terms), self.bias)

    def describe(self) -> str:
        parts = [f"{_num(c)}·%{x.name}" for x, c in self.terms]
        if self.bias:
            parts.append(_num(self.bias))
        return f"linear({' + '.join(parts)})"

    def _infer_type(self) -> ValueType:
        if not self.terms:
            raise IRTypeError(f"{self._where()}: needs at least one term")
        lo = hi = NBound(self.bias)
        integer = float(self.bias).is_integer()
        for x, c in self.terms:
            _need_expr(self, "term", x)
            if not _is_number(c):
                raise IRTypeError(f"{self._where()}: coefficient of '{x.name}' must be a finite number, got {c!r}")
            view = x.type.numeric_view()
            if view is None:
                raise IRTypeError(f"{self._where()}: register '{x.name}' ({x.type}) has no numeric reading")
            xlo, xhi, xint = view
            lo, hi = (lo + xlo.scaled(c), hi + xhi.scaled(c)) if c >= 0 else (lo + xhi.scaled(c), hi + xlo.scaled(c))
            integer = integer and xint and float(c).is_integer()
        return ValueType.numeric(lo, hi, integer)


@dataclass(frozen=True)
class Select:
    """Selector: query position i selects key position j iff predicate(keys_j, queries_i).
    Not a register: it is the attention pattern an ``Aggregate`` or ``SelectorWidth`` uses."""

    keys: Expr
    queries: Expr
    predicate: Comparison

    def __post_init__(self) -> None:
        for role in ("keys", "queries"):
            if not isinstance(getattr(self, role), Expr):
                raise IRTypeError(f"select: {role} must be a register, got {type(getattr(self, role)).__name__}")
        if not isinstance(self.predicate, Comparison):
            raise IRTypeError(f"select: predicate must be a Comparison, got {self.predicate!r}")
        self.form()  # type-check now

    @cached_property
    def key(self) -> str:
        return _digest(("select", self.predicate.name, self.keys.key, self.queries.key))

    def describe(self) -> str:
        return f"select(%{self.keys.name}, %{self.queries.name}, {self.predicate.name})"

    def form(self) -> str:
        """Which attention form realises this selector (checked once, then remembered):

        * ``table``: categorical keys and queries (any predicate; one-hot, P2 Lemma D.2 style);
        * ``position``: keys = indices, queries a pointer, EQ (P2 Lemma D.1: position codes);
        * ``quadratic``: integer numbers, EQ (score 2·q·k − k², maximal iff k = q);
        * ``constant``: TRUE / FALSE.
        """
        if "_form" not in self.__dict__:
            self.__dict__["_form"] = self._check_form()
        return self.__dict__["_form"]

    def _check_form(self) -> str:
        k, q, p = self.keys.type, self.queries.type, self.predicate
        if p in (Comparison.TRUE, Comparison.FALSE):
            return "constant"
        if k.kind is Kind.CATEGORICAL and q.kind is Kind.CATEGORICAL:
            for a, b in itertools.product(k.values, q.values):
                try:
                    bool(p(a, b))
                except TypeError as exc:
                    raise IRTypeError(f"{self.describe()}: {p.name} cannot compare {a!r} with {b!r} ({exc})") from None
            return "table"
        if p is not Comparison.EQ:
            raise IRTypeError(f"{self.describe()}: {p.name} needs categorical keys and queries; "
                              f"got {k} and {q} (only EQ is compiled exactly on positions and integers)")
        if isinstance(self.keys, Indices) and q.kind is Kind.POINTER:
            return "position"
        kv, qv = k.numeric_view(), q.numeric_view()
        if kv is None or qv is None or not kv[2] or not qv[2]:
            raise IRTypeError(f"{self.describe()}: EQ on non-categorical registers needs integer-valued "
                              f"keys and queries, got {k} and {q}")
        return "quadratic"


@dataclass(frozen=True, eq=False)
class Aggregate(Expr):
    """The mean of ``value`` over the key positions the selector picks; the start token's null
    value (⊥ / 0) when it picks none. A categorical mean must be over equal values."""

    op: ClassVar[str] = "aggregate"
    selector: Select = None
    value: Expr = None

    def children(self) -> tuple[Expr, ...]:
        return (self.selector.keys, self.selector.queries, self.value)

    def params(self) -> tuple:
        return (self.selector.predicate.name,)

    def describe(self) -> str:
        return f"aggregate({self.selector.describe()}, %{self.value.name})"

    def _infer_type(self) -> ValueType:
        if not isinstance(self.selector, Select):
            raise IRTypeError(f"{self._where()}: selector must be a Select, got {type(self.selector).__name__}")
        _need_expr(self, "value", self.value)
        t = self.value.type.with_bottom()
        unique = self.selector.form() in ("position", "quadratic")
        if t.kind is Kind.POINTER and not unique:
            raise IRTypeError(f"{self._where()}: the mean of pointer register '{self.value.name}' over several "
                              "positions is a fraction, not a pointer; average a numeric register "
                              "(e.g. Linear of it) instead")
        if t.kind is Kind.NUMERIC and not unique:
            return ValueType.numeric(t.lo, t.hi, False)  # a mean of integers is a fraction
        return t


def LookUp(pointer: Expr, value: Expr, *, label: str | None = None) -> Aggregate:
    """value at the position ``pointer`` names (P2 Lemma D.1): Aggregate(Select(indices,
    pointer, EQ), value). Pointer 0 is the start token: the result is ⊥ / 0."""
    return Aggregate(Select(Indices(), pointer, Comparison.EQ), value, label=label)


@dataclass(frozen=True, eq=False)
class LastOccurrence(Expr):
    """value at the largest i′ ≤ i with key(i′) = query(i), or the null value when there is
    none (P2 Lemma D.2; i′ = i allowed). Causal programs only."""

    op: ClassVar[str] = "last_occurrence"
    key_reg: Expr = None
    query: Expr = None
    value: Expr = None

    def children(self) -> tuple[Expr, ...]:
        return (self.key_reg, self.query, self.value)

    def describe(self) -> str:
        return f"last_occurrence(key=%{self.key_reg.name}, query=%{self.query.name}, value=%{self.value.name})"

    def _infer_type(self) -> ValueType:
        for role, reg in (("key", self.key_reg), ("query", self.query), ("value", self.value)):
            _need_expr(self, role, reg)
        for role, reg in (("key", self.key_reg), ("query", self.query)):
            if reg.type.kind is not Kind.CATEGORICAL:
                raise IRTypeError(f"{self._where()}: {role} register '{reg.name}' is {reg.type}; "
                                  "P2 Lemma D.2 matches categorical keys")
        return self.value.type.with_bottom()


@dataclass(frozen=True, eq=False)
class SelectorWidth(Expr):
    """The number of key positions the selector picks (0..N), as an integer register."""

    op: ClassVar[str] = "selector_width"
    selector: Select = None

    def children(self) -> tuple[Expr, ...]:
        return (self.selector.keys, self.selector.queries)

    def params(self) -> tuple:
        return (self.selector.predicate.name,)

    def describe(self) -> str:
        return f"selector_width({self.selector.describe()})"

    def _infer_type(self) -> ValueType:
        if not isinstance(self.selector, Select):
            raise IRTypeError(f"{self._where()}: selector must be a Select, got {type(self.selector).__name__}")
        if self.selector.form() not in ("table", "constant"):
            raise IRTypeError(f"{self._where()}: {self.selector.describe()} is a position selector; "
                              "selector width is compiled for categorical (or constant) selectors")
        return ValueType.numeric(0, NBound(0, 1), True)


# ---------------------------------------------------------------------------------------------
# Helpers for type inference
# ---------------------------------------------------------------------------------------------
def _need_expr(node: Expr, role: str, value: Any) -> None:
    if not isinstance(value, Expr):
        raise IRTypeError(f"{node._where()}: {role} must be a register, got {type(value).__name__}")


def _domain_of(node: Expr, x: Expr) -> tuple:
    domain = x.type.finite_domain()
    if domain is None:
        raise IRTypeError(f"{node._where()}: register '{x.name}' ({x.type}) has no finite domain "
                          f"of at most {MAX_TABLE} values to tabulate")
    return domain


def _apply(node: Expr, fn: Callable, args: tuple) -> Any:
    if not callable(fn):
        raise IRTypeError(f"{node._where()}: fn must be callable, got {fn!r}")
    if any(a is BOTTOM for a in args):
        return BOTTOM
    try:
        out = fn(*args)
    except Exception as exc:  # the user's function failed on a value of its domain
        raise IRTypeError(f"{node._where()}: fn raised {type(exc).__name__}: {exc} on input {args!r}") from None
    try:
        hash(out)
    except TypeError:
        raise IRTypeError(f"{node._where()}: fn returned the unhashable {out!r} on input {args!r}") from None
    return out


def _image_type(node: Expr, outs: list, numeric: bool) -> ValueType:
    if not numeric:
        seen: dict = {}
        for v in outs:
            seen.setdefault(v, None)
        return ValueType.categorical(tuple(seen))
    nums = [0 if v is BOTTOM else v for v in outs]
    bad = [v for v in nums if not _is_number(v)]
    if bad:
        raise IRTypeError(f"{node._where()}: numeric map produced the non-number {bad[0]!r}")
    return ValueType.numeric(min(nums), max(nums), all(float(v).is_integer() for v in nums))


# ---------------------------------------------------------------------------------------------
# Programs
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Program:
    """A token program: the register to output, and whether the transformer is causal (position
    i sees only positions ≤ i, as in P2's MaskTransformer) or sees the whole sequence."""

    output: Expr
    causal: bool = True
    name: str = "program"

    def __post_init__(self) -> None:
        if not isinstance(self.output, Expr):
            raise IRTypeError(f"program {self.name!r}: output must be a register, got {type(self.output).__name__}")
        if not self.causal:
            for node in self.nodes():
                if isinstance(node, LastOccurrence):
                    raise IRTypeError(f"program {self.name!r}: {node.describe()} (P2 Lemma D.2) needs a causal program")

    @cached_property
    def vocab(self) -> tuple:
        """The vocabulary of the program's token register (() if it reads no tokens)."""
        toks = {n.key: n for n in self.nodes() if isinstance(n, Tokens)}
        if len(toks) > 1:
            raise IRTypeError(f"program {self.name!r} uses {len(toks)} different token registers; use one")
        return next(iter(toks.values())).vocab if toks else ()

    def nodes(self) -> list[Expr]:
        """Every register the output depends on, once each (by structural key), children first;
        ties in the order are broken by name, so the order is independent of construction order."""
        return topological_order([self.output])

    def __str__(self) -> str:
        lines = [f"program {self.name} ({'causal' if self.causal else 'bidirectional'})"]
        nodes = self.nodes()
        width = max(len(n.name) for n in nodes) + 1
        for n in nodes:
            lines.append(f"  %{n.name:<{width}} = {n.describe():<60} : {n.type}")
        lines.append(f"  output %{self.output.name}")
        return "\n".join(lines)


def topological_order(roots: Sequence[Expr]) -> list[Expr]:
    """Registers reachable from ``roots``, deduplicated by structural key, dependencies first.
    Memoised: each distinct sub-expression is visited once however often it is shared."""
    by_key: dict[str, Expr] = {}
    names: dict[str, str] = {}
    deps: dict[str, tuple] = {}
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node.key in by_key:
            continue
        other = names.get(node.name)
        if other is not None and other != node.key:
            raise IRTypeError(f"two different registers are named '{node.name}'; give them distinct labels")
        by_key[node.key] = node
        names[node.name] = node.key
        deps[node.key] = tuple(dict.fromkeys(c.key for c in node.children()))
        stack.extend(node.children())
    depth: dict[str, int] = {}

    def level(k: str) -> int:  # longest path from a leaf; iterative to survive deep programs
        todo = [k]
        while todo:
            cur = todo[-1]
            pending = [d for d in deps[cur] if d not in depth]
            if pending:
                todo.extend(pending)
                continue
            todo.pop()
            depth[cur] = 1 + max((depth[d] for d in deps[cur]), default=-1)
        return depth[k]

    return sorted(by_key.values(), key=lambda n: (level(n.key), n.name))


def iter_selects(node: Expr) -> Iterator[Select]:
    sel = getattr(node, "selector", None)
    if isinstance(sel, Select):
        yield sel
