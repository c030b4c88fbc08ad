"""Toy objectives f(z) over D categorical variables, as tables the kernels consume.

Every objective is ``f(z) = Σ_d unary[d, z_d] + Σ_{d<e} pair[d, e, z_d, z_e] + full[z]``,
where the pairwise and full-table parts are present only for non-additive objectives. The
exact conditional means ``F_d(c) = E[f(z) | z_d = c]`` (spec 1.2) come from the same tables
in closed form (pairwise) or by contracting the full table with the other marginals.
"""

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from carms_cli.core.errors import InputError

#: Largest full K^D table accepted (entries); 2^24 float64 = 128 MiB.
MAX_FULL_TABLE = 1 << 24
#: Largest pairwise interaction table accepted (entries of the D×D×K×K array).
MAX_PAIR_TABLE = 1 << 24

OBJECTIVE_HELP = {
    "linear": "CARMS paper toy: f = Σ_d K·(d·K + z_d + 1) (additive)",
    "table": "seeded standard-normal value per (variable, category) (additive)",
    "quadratic:T": "Σ_d (z_d/(K−1) − T)²; at K = 2 the ARMS toy (z − T)² (default T = 0.49)",
    "needle:K*": "number of variables equal to category K* (default 0): Σ_d (z_d == K*)",
    "pairwise": "seeded normal unary + pairwise interactions between variables (non-additive)",
    "file:PATH": ".npy/.csv table: D×K additive values, or a full K^D table (flat or K×…×K)",
}


@dataclass(frozen=True, eq=False)
class Objective:
    """An objective as tables: see the module docstring for the decomposition."""

    spec: str
    description: str
    unary: np.ndarray
    pair: np.ndarray | None = None
    full: np.ndarray | None = None

    @property
    def fingerprint(self) -> str:
        """Return the SHA-256 of the tables (``sha256:HEX``): equal exactly when f is the same table."""
        from carms_cli.core.records import content_fingerprint

        return content_fingerprint(unary=self.unary, pair=self.pair, full=self.full)

    @property
    def additive(self) -> bool:
        """Whether f is a sum of per-variable terms (no pairwise or full table)."""
        return self.pair is None and self.full is None

    def evaluate(self, z: np.ndarray) -> np.ndarray:
        """Evaluate f at configurations ``z`` (int array of shape (..., D))."""
        z = np.asarray(z)
        d_count, k = self.unary.shape
        dims = np.arange(d_count)
        value = self.unary[dims, z].sum(axis=-1)
        if self.pair is not None:
            for d in range(d_count):
                for e in range(d + 1, d_count):
                    value = value + self.pair[d, e][z[..., d], z[..., e]]
        if self.full is not None:
            flat = np.zeros(z.shape[:-1], dtype=np.int64)
            for d in range(d_count):
                flat = flat * k + z[..., d]
            value = value + self.full[flat]
        return value

    def conditional_means(self, probs: np.ndarray) -> np.ndarray:
        """``F[d, c] = E[f(z) | z_d = c]`` under independent ``z_e ~ probs[e]`` (D×K)."""
        d_count, k = self.unary.shape
        unary_means = (self.unary * probs).sum(axis=1)
        cond = self.unary + (unary_means.sum() - unary_means)[:, None]
        if self.pair is not None:
            for d in range(d_count):
                for e in range(d + 1, d_count):
                    table = self.pair[d, e]
                    to_d = table @ probs[e]  # E[B(c, z_e)] as a function of c = z_d
                    to_e = probs[d] @ table  # E[B(z_d, c)] as a function of c = z_e
                    both = probs[d] @ to_d
                    for x in range(d_count):
                        if x == d:
                            cond[x] += to_d
                        elif x == e:
                            cond[x] += to_e
                        else:
                            cond[x] += both
        if self.full is not None:
            table = self.full.reshape((k,) * d_count)
            for d in range(d_count):
                reduced = table
                # contract the other axes, last first so lower axis numbers stay valid
                for e in reversed(range(d_count)):
                    if e != d:
                        reduced = np.tensordot(reduced, probs[e], axes=([e], [0]))
                cond[d] += reduced
        return cond


def _linear(d_count: int, k: int) -> np.ndarray:
    d = np.arange(d_count)[:, None]
    c = np.arange(k)[None, :]
    return (k * (d * k + c + 1)).astype(np.float64)


def _parse_float(name: str, param: str | None, default: float) -> float:
    if param is None or param == "":
        return default
    try:
        value = float(param)
    except ValueError:
        raise InputError(f"objective '{name}' expects a number after ':', got '{param}'") from None
    if not np.isfinite(value):
        raise InputError(f"objective '{name}' parameter must be finite, got '{param}'")
    return value


#: dtype kinds a ``.npy`` objective may hold: booleans, integers and floats (read as float64).
NPY_KINDS = {"b": "booleans", "i": "integers", "u": "integers", "f": "floats"}
#: Peak bytes of reading a CSV table, per byte of the file (np.loadtxt's lists of Python floats).
CSV_BYTES_PER_FILE_BYTE = 16


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Return a ``.npy`` file's shape and dtype from its header alone (nothing else is read)."""
    from numpy.lib import format as npy

    readers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
    try:
        with open(path, "rb") as handle:
            version = npy.read_magic(handle)
            reader = readers.get(version)
            if reader is None:
                raise InputError(f"objective file '{path}' is not a .npy file this tool reads (version {version})")
            shape, _, dtype = reader(handle)
    except InputError:
        raise
    except (OSError, ValueError, SyntaxError, TypeError) as exc:
        raise InputError(f"objective file '{path}' is not a readable .npy file: {exc}") from None
    return tuple(int(size) for size in shape), np.dtype(dtype)


def _shape_message(path_text: str, shape: tuple, d_count: int, k: int) -> str:
    full = k**d_count if d_count * np.log10(k) < 16 else f"{k}^{d_count}"
    layout = f"flat or {(k,) * d_count}" if d_count <= 8 else f"flat or K×…×K, {d_count} axes"
    return (
        f"objective file '{path_text}' has shape {shape}; expected ({d_count}, {k}) "
        f"additive values or a full table of {full} entries ({layout})"
    )


def _check_npy(path: Path, d_count: int, k: int, memory_budget: int | None) -> None:
    """Refuse, from the header, a ``.npy`` table of the wrong kind or size before loading it."""
    shape, dtype = npy_header(path)
    if dtype.kind not in NPY_KINDS:
        kind = {"c": "complex numbers (the imaginary part would be lost)", "M": "dates", "m": "time spans"}.get(
            dtype.kind, f"values of type {dtype} (not real numbers)"
        )
        raise InputError(f"objective file '{path}' holds {kind}; an objective is a table of real numbers")
    entries = int(np.prod(shape, dtype=object))
    if entries not in (d_count * k, k**d_count):
        raise InputError(_shape_message(str(path), shape, d_count, k))
    if entries != d_count * k and entries > MAX_FULL_TABLE:
        raise InputError(f"full objective table K^D = {entries} exceeds {MAX_FULL_TABLE}")
    if memory_budget is not None:
        from carms_cli.core.budget import check_memory

        check_memory(entries * 8 * 3, memory_budget, f"objective file '{path}'")


def _load_table(path_text: str, sizes: tuple[int, int] | None = None, memory_budget: int | None = None) -> np.ndarray:
    if not path_text:
        raise InputError("objective 'file' needs a path: --objective file:PATH")
    path = Path(path_text)
    if not path.is_file():
        raise InputError(f"objective file '{path}' does not exist or is not a file")
    if memory_budget is not None and path.suffix.lower() == ".csv":
        from carms_cli.core.budget import check_memory

        check_memory(path.stat().st_size * CSV_BYTES_PER_FILE_BYTE, memory_budget, f"reading objective file '{path}'")
    try:
        if path.suffix.lower() == ".npy":
            if sizes is not None:
                _check_npy(path, *sizes, memory_budget)
            table = np.load(path, allow_pickle=False)
        elif path.suffix.lower() == ".csv":
            with warnings.catch_warnings():  # an empty file warns; its shape is refused below, in one line
                warnings.simplefilter("ignore", UserWarning)
                table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=1)
        else:
            raise InputError(f"objective file '{path}' must end in .npy or .csv")
    except InputError:
        raise
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read objective file '{path}': {exc}") from None
    try:
        table = np.asarray(table, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"objective file '{path}' does not hold numbers") from None
    if not np.all(np.isfinite(table)):
        raise InputError(f"objective file '{path}' contains NaN or infinite values")
    return table


def _from_file(spec: str, path_text: str, d_count: int, k: int, memory_budget: int | None = None) -> Objective:
    table = _load_table(path_text, (d_count, k), memory_budget)
    if table.ndim == 2 and table.shape == (d_count, k):
        return Objective(spec, "additive D×K table from the file", table)
    if d_count == 1 and table.shape == (k,):
        return Objective(spec, "additive table from the file", table[None, :])
    full_size = k**d_count
    if table.size == full_size and (table.ndim == 1 or table.shape == (k,) * d_count):
        if full_size > MAX_FULL_TABLE:
            raise InputError(f"full objective table K^D = {full_size} exceeds {MAX_FULL_TABLE}")
        return Objective(
            spec,
            "full K^D table from the file",
            np.zeros((d_count, k)),
            full=table.reshape(-1).copy(),
        )
    raise InputError(_shape_message(path_text, table.shape, d_count, k))


def build_objective(spec: str, d_count: int, k: int, seed: int, memory_budget: int | None = None) -> Objective:
    """Resolve ``NAME[:PARAM]`` into tables for D variables with K categories.

    Seeded objectives draw from ``numpy.random.default_rng([seed, 2])``, so they change with
    ``--seed`` and are reproducible from it. With ``memory_budget`` (bytes), a ``file:`` table is
    checked against it before it is read (a ``.npy`` header's shape, a CSV's size).
    """
    name, _, param = spec.partition(":")
    name = name.strip().lower()
    param = param.strip() if param else None
    rng = np.random.default_rng([seed, 2])
    if name == "linear":
        return Objective(spec, "K·(d·K + k + 1) per (variable d, category k)", _linear(d_count, k))
    if name == "table":
        return Objective(spec, "seeded N(0,1) value per (variable, category)", rng.standard_normal((d_count, k)))
    if name == "quadratic":
        target = _parse_float(name, param, 0.49)
        values = (np.arange(k) / (k - 1) - target) ** 2
        return Objective(f"quadratic:{target:g}", f"Σ_d (z_d/(K−1) − {target:g})²", np.tile(values, (d_count, 1)))
    if name == "needle":
        star = 0 if not param else param
        try:
            star = int(star)
        except ValueError:
            raise InputError(f"objective 'needle' expects a category index, got '{param}'") from None
        if not 0 <= star < k:
            raise InputError(f"needle category {star} is outside 0..{k - 1}")
        values = np.zeros((d_count, k))
        values[:, star] = 1.0
        return Objective(f"needle:{star}", f"Σ_d 1[z_d = {star}]", values)
    if name == "pairwise":
        if d_count * d_count * k * k > MAX_PAIR_TABLE:
            raise InputError(f"pairwise objective table D²K² = {d_count * d_count * k * k} exceeds {MAX_PAIR_TABLE}")
        unary = rng.standard_normal((d_count, k))
        pair = np.zeros((d_count, d_count, k, k))
        for d in range(d_count):
            for e in range(d + 1, d_count):
                pair[d, e] = rng.standard_normal((k, k))
        return Objective(
            spec,
            "seeded N(0,1) unary + N(0,1) interaction per pair of variables",
            unary,
            pair=pair if d_count > 1 else None,
        )
    if name == "file":
        return _from_file(spec, param or "", d_count, k, memory_budget)
    raise InputError(_unknown("objective", name, [n.partition(":")[0] for n in OBJECTIVE_HELP]))


def _unknown(kind: str, name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown {kind} '{name}'{hint} (known: {', '.join(known)})"
