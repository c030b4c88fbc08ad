"""Objectives f(x) of a D-dimensional continuous x: parsing, and f, ∇f and the Hessian on the host.

Separable objectives are sums of one function φ over the coordinates, ``f(x) = Σ_d φ(x_d)``:

* ``square:k`` — φ(t) = (t − k)²;
* ``exp:k`` — φ(t) = exp(−k t²);
* ``cos:k`` — φ(t) = cos(k t);
* ``sin:k`` — φ(t) = sin(k t);
* ``poly:c0,c1,…`` — φ(t) = Σ_i c_i t^i;
* ``log`` — φ(t) = log t (distributions on t > 0 only);
* ``laplace:t`` — φ(x) = exp(−t x) (E φ is the law's Laplace transform at t);
* ``mean`` — φ(x) = x, the same objective as ``poly:0,1`` under its own name;
* ``step:k`` — φ(t) = 1[t > k], which has no derivative (pathwise estimators do not apply).

Two are not separable: ``cos-sum:k`` — f(x) = cos(k Σ_d x_d), and ``quad-form:w1,…,wD`` —
f(x) = (wᵀx)² (one w is used for every coordinate). The compiled kernels evaluate the same
functions from the objective's code and parameters (:mod:`carms_cli.continuous.kernels.objective`).
"""

import math
from dataclasses import dataclass

import numpy as np

from carms_cli.continuous.codes import ObjectiveCode
from carms_cli.core.errors import InputError

OBJECTIVE_HELP = {
    "square:k": "Σ_d (x_d − k)² (default k = 0)",
    "exp:k": "Σ_d exp(−k·x_d²) (default k = 1)",
    "cos:k": "Σ_d cos(k·x_d) (default k = 1)",
    "sin:k": "Σ_d sin(k·x_d) (default k = 1)",
    "poly:c0,c1,…": "Σ_d Σ_i c_i·x_d^i",
    "log": "Σ_d log x_d (positive distributions only)",
    "laplace:t": "Σ_d exp(−t·x_d) (default t = 1)",
    "mean": "Σ_d x_d (poly:0,1)",
    "step:k": "Σ_d 1[x_d > k] (no derivative: not for pathwise; default k = 0)",
    "cos-sum:k": "cos(k·Σ_d x_d) (not separable; default k = 1)",
    "quad-form:w1,…,wD": "(wᵀx)² (not separable; one w for every coordinate; default 1)",
}

#: Highest polynomial degree accepted by ``poly:`` (Gaussian moments are exact to it).
MAX_POLY_DEGREE = 12

_DEFAULTS = {"square": 0.0, "exp": 1.0, "cos": 1.0, "sin": 1.0, "cos-sum": 1.0, "step": 0.0, "laplace": 1.0}
_CODES = {
    "square": ObjectiveCode.SQUARE,
    "exp": ObjectiveCode.EXP,
    "cos": ObjectiveCode.COS,
    "sin": ObjectiveCode.SIN,
    "poly": ObjectiveCode.POLY,
    "log": ObjectiveCode.LOG,
    "cos-sum": ObjectiveCode.COS_SUM,
    "quad-form": ObjectiveCode.QUAD_FORM,
    "step": ObjectiveCode.STEP,
    "laplace": ObjectiveCode.LAPLACE,
    "mean": ObjectiveCode.POLY,
}


@dataclass(frozen=True, eq=False)
class Objective:
    """One objective: its spec, kernel code and parameters (k, the coefficients c_i, or w).

    ``params`` holds ``[k]`` for square, exp, cos, sin, cos-sum, step and laplace (its t), the
    coefficients ``c_0 … c_m`` for poly (``[0, 1]`` for mean), nothing for log and the D weights
    for quad-form.
    """

    spec: str
    code: ObjectiveCode
    params: np.ndarray
    description: str

    @property
    def separable(self) -> bool:
        """Whether f is a sum of one function φ over the coordinates."""
        return self.code not in (ObjectiveCode.COS_SUM, ObjectiveCode.QUAD_FORM)

    @property
    def differentiable(self) -> bool:
        """Whether f has a derivative everywhere that matters (``step`` does not)."""
        return self.code != ObjectiveCode.STEP

    @property
    def periodic(self) -> bool:
        """Whether f is 2π-periodic in every coordinate (cos, sin and cos-sum with an integer k)."""
        if self.code not in (ObjectiveCode.COS, ObjectiveCode.SIN, ObjectiveCode.COS_SUM):
            return False
        return float(self.params[0]).is_integer()

    @property
    def positive_only(self) -> bool:
        """Whether f is defined only for x > 0 (``log``)."""
        return self.code == ObjectiveCode.LOG

    def phi(self, t, derivative: int = 0):
        """Return the separable part φ(t) (or its first or second derivative), elementwise."""
        t = np.asarray(t, dtype=float)
        code, p = self.code, self.params
        if code == ObjectiveCode.SQUARE:
            return ((t - p[0]) ** 2, 2.0 * (t - p[0]), np.full_like(t, 2.0))[derivative]
        if code == ObjectiveCode.EXP:
            k = p[0]
            e = np.exp(-k * t * t)
            return (e, -2.0 * k * t * e, (4.0 * k * k * t * t - 2.0 * k) * e)[derivative]
        if code == ObjectiveCode.COS:
            k = p[0]
            return (np.cos(k * t), -k * np.sin(k * t), -k * k * np.cos(k * t))[derivative]
        if code == ObjectiveCode.SIN:
            k = p[0]
            return (np.sin(k * t), k * np.cos(k * t), -k * k * np.sin(k * t))[derivative]
        if code == ObjectiveCode.LAPLACE:
            e = np.exp(-p[0] * t)
            return (e, -p[0] * e, p[0] * p[0] * e)[derivative]
        if code == ObjectiveCode.POLY:
            coefficients = np.polynomial.polynomial.polyder(p, derivative) if derivative else p
            return np.polynomial.polynomial.polyval(t, coefficients)
        if code == ObjectiveCode.STEP:
            if derivative:
                raise ValueError("step has no derivative")
            return (t > p[0]).astype(float)
        if code == ObjectiveCode.LOG:
            with np.errstate(divide="ignore", invalid="ignore"):
                return (np.log(t), 1.0 / t, -1.0 / (t * t))[derivative]
        raise ValueError(f"{self.spec} is not separable")

    def value(self, x) -> np.ndarray:
        """f(x) for points ``x`` of shape (..., D)."""
        x = np.asarray(x, dtype=float)
        if self.code == ObjectiveCode.COS_SUM:
            return np.cos(self.params[0] * x.sum(axis=-1))
        if self.code == ObjectiveCode.QUAD_FORM:
            return (x @ self._weights(x.shape[-1])) ** 2
        return self.phi(x).sum(axis=-1)

    def gradient(self, x) -> np.ndarray:
        """∇f(x), shape (..., D)."""
        x = np.asarray(x, dtype=float)
        if self.code == ObjectiveCode.COS_SUM:
            k = self.params[0]
            return np.broadcast_to((-k * np.sin(k * x.sum(axis=-1)))[..., None], x.shape).copy()
        if self.code == ObjectiveCode.QUAD_FORM:
            w = self._weights(x.shape[-1])
            return 2.0 * (x @ w)[..., None] * w
        return self.phi(x, 1)

    def hessian(self, x) -> np.ndarray:
        """Return the Hessian ∇²f at one point ``x`` of shape (D,), shape (D, D)."""
        x = np.asarray(x, dtype=float)
        d_count = x.shape[-1]
        if self.code == ObjectiveCode.COS_SUM:
            k = self.params[0]
            return np.full((d_count, d_count), -k * k * math.cos(k * x.sum()))
        if self.code == ObjectiveCode.QUAD_FORM:
            w = self._weights(d_count)
            return 2.0 * np.outer(w, w)
        return np.diag(self.phi(x, 2))

    def _weights(self, d_count: int) -> np.ndarray:
        return np.broadcast_to(self.params, (d_count,)) if self.params.size == 1 else self.params

    def kernel_params(self, d_count: int) -> np.ndarray:
        """Return the parameter array the kernels read (quad-form's w expanded to D entries)."""
        if self.code == ObjectiveCode.QUAD_FORM:
            return np.ascontiguousarray(self._weights(d_count), dtype=np.float64)
        return np.ascontiguousarray(self.params if self.params.size else np.zeros(1), dtype=np.float64)


def _numbers(text: str, spec: str) -> np.ndarray:
    try:
        values = np.array([float(item) for item in text.split(",")], dtype=float)
    except ValueError:
        raise InputError(f"objective '{spec}': parameters must be numbers, got '{text}'") from None
    if not np.all(np.isfinite(values)):
        raise InputError(f"objective '{spec}': parameters must be finite")
    return values


def build_objective(spec: str, dims: int) -> Objective:
    """Parse ``NAME[:PARAMS]`` (see :data:`OBJECTIVE_HELP`) for D = ``dims`` coordinates."""
    name, _, text = spec.strip().partition(":")
    name = name.lower()
    if name not in _CODES:
        known = ", ".join(OBJECTIVE_HELP)
        raise InputError(f"unknown objective '{spec}' (known: {known})")
    code = _CODES[name]
    if name == "log":
        if text:
            raise InputError("objective 'log' takes no parameter")
        return Objective("log", code, np.zeros(0), OBJECTIVE_HELP["log"])
    if name == "mean":
        if text:
            raise InputError("objective 'mean' takes no parameter")
        return Objective("mean", code, np.array([0.0, 1.0]), "Σ_d x_d")
    if name == "poly":
        if not text:
            raise InputError("objective 'poly' needs coefficients, e.g. poly:0,1,2 for x + 2x²")
        coefficients = _numbers(text, spec)
        if coefficients.size > MAX_POLY_DEGREE + 1:
            raise InputError(f"objective 'poly' accepts degree at most {MAX_POLY_DEGREE}, got {coefficients.size - 1}")
        return Objective(f"poly:{text}", code, coefficients, "Σ_d " + _poly_text(coefficients))
    if name == "quad-form":
        weights = _numbers(text, spec) if text else np.ones(1)
        if weights.size not in (1, dims):
            raise InputError(f"objective 'quad-form' needs 1 or D = {dims} weights, got {weights.size}")
        shown = ",".join(f"{w:g}" for w in weights)
        return Objective(f"quad-form:{shown}", code, weights, f"(wᵀx)², w = [{shown}]")
    values = _numbers(text, spec) if text else np.array([_DEFAULTS[name]])
    if values.size != 1:
        raise InputError(f"objective '{name}' takes one parameter k, got '{text}'")
    k = float(values[0])
    shifted = f"x_d − {k:g}" if k >= 0 else f"x_d + {-k:g}"
    description = {
        "square": f"Σ_d ({shifted})²",
        "exp": f"Σ_d exp(−{k:g}·x_d²)",
        "cos": f"Σ_d cos({k:g}·x_d)",
        "sin": f"Σ_d sin({k:g}·x_d)",
        "cos-sum": f"cos({k:g}·Σ_d x_d)",
        "step": f"Σ_d 1[x_d > {k:g}]",
        "laplace": f"Σ_d exp(−{k:g}·x_d)",
    }[name]
    return Objective(f"{name}:{k:g}", code, np.array([k]), description)


def _poly_text(coefficients: np.ndarray) -> str:
    terms = [f"{c:g}·x^{i}" if i else f"{c:g}" for i, c in enumerate(coefficients) if c != 0]
    return " + ".join(terms) if terms else "0"
