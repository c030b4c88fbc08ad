"""``carms sweep --family continuous``: ``carms continuous`` over a grid, one row per (grid point, estimator).

The grid's axes are the distribution's parameters (``--mu``, ``--sigma``; ``--rate``, ``--alpha``;
von Mises ``--mu``, ``--kappa``; Beta ``--a``, ``--b``; Dirichlet ``--alpha``, a symmetric
Dirichlet(α, …, α) with K = D components),
the objective (a name such as ``square``) and its parameter ``k``, the reported parameter
(``--param mu,sigma``: one run per parameter, so each row's variance and its 95% interval are
that parameter's alone, as in the survey's figures), n and D. Every point's seed is a function of
``--seed`` and its coordinates (as for the discrete sweep), and every row carries the
``carms continuous`` command that re-runs it alone.

``exact_only`` computes each point's exact variances by quadrature
(:func:`carms_cli.continuous.exact.exact_moments`) and samples nothing: the survey's figures
2–3 are drawn this way, in a fraction of a second per point.
"""

import hashlib
import shlex
from dataclasses import dataclass

from carms_cli.analysis.sweep import SweepAxis, SweepFamily
from carms_cli.continuous.codes import ObjectiveCode
from carms_cli.core.errors import InputError

#: Objectives whose one parameter is the swept ``k``.
K_OBJECTIVES = (
    ObjectiveCode.SQUARE,
    ObjectiveCode.EXP,
    ObjectiveCode.COS,
    ObjectiveCode.COS_SUM,
    ObjectiveCode.STEP,
    ObjectiveCode.LAPLACE,
)

#: The distribution-parameter axes of each distribution (row fields, in order).
VALUE_AXES = {
    "gaussian": ("mu", "sigma"),
    "exponential": ("rate",),
    "gamma": ("alpha", "rate"),
    "vonmises": ("mu", "kappa"),
    "beta": ("a", "b"),
    "dirichlet": ("alpha",),
}
_VALUE_TITLES = {"mu": "μ", "sigma": "σ", "rate": "rate", "alpha": "α", "kappa": "κ", "a": "a", "b": "b"}


@dataclass(frozen=True)
class ContinuousPoint:
    """One problem of the grid: a distribution and its parameter values, objective and k, parameter, n, D.

    ``values`` pairs each of the distribution's parameters with its value (the same for every
    coordinate); ``k`` is None for objectives without a k (``poly:…``, ``log``, ``quad-form:…``),
    whose ``objective`` is then the whole spec.
    """

    distribution: str
    values: tuple[tuple[str, float], ...]
    objective: str
    k: float | None
    param: str
    samples: int
    dims: int

    def coordinates(self) -> dict:
        """Return the point's axis values by row field (``mu``, ``sigma``, …, ``objective``, ``k``, …)."""
        return {
            "distribution": self.distribution,
            **dict(self.values),
            "objective": self.objective,
            "k": self.k,
            "param": self.param,
            "samples": self.samples,
            "dims": self.dims,
        }

    @property
    def objective_spec(self) -> str:
        """Return the objective as ``carms continuous -o`` takes it (``square:-3.0``)."""
        return self.objective if self.k is None else f"{self.objective}:{self.k!r}"


def split_objective(spec: str, ks: list[float] | None) -> list[tuple[str, float | None]]:
    """Return the (objective, k) pairs of one ``--objective`` entry, with k from ``ks`` (``--k``) if given.

    With ``--k``, the entry must be the bare name of an objective that takes one k (``square``,
    ``exp``, ``cos``, ``cos-sum``, ``step``); without it, such an objective's own k (given or its
    default) is the point's k, and any other objective is used as written with k None.
    """
    from carms_cli.continuous.objectives import build_objective

    built = build_objective(spec, 1)
    name = spec.strip().partition(":")[0].lower()
    takes_k = built.code in K_OBJECTIVES
    if ks is None:
        return [(name, float(built.params[0]))] if takes_k else [(spec.strip(), None)]
    if not takes_k:
        raise InputError(
            f"--k needs objectives with one parameter k (square, exp, cos, cos-sum, step, laplace), not '{spec}'"
        )
    if ":" in spec:
        raise InputError(f"give the objective's k with --k or in --objective, not both: use --objective {name}")
    return [(name, k) for k in ks]


def grid(distribution, value_axes: dict, objectives, params, samples, dims) -> list[ContinuousPoint]:
    """Return every combination of the axis values (the last axis varies fastest).

    ``value_axes`` maps each of the distribution's parameters to its values; ``objectives`` is a
    list of (objective, k) pairs.
    """
    import itertools

    names = list(value_axes)
    points = []
    for combination in itertools.product(*value_axes.values(), objectives, params, samples, dims):
        values = tuple(zip(names, (float(v) for v in combination[: len(names)]), strict=True))
        (objective, k), param, n, d = combination[len(names) :]
        points.append(ContinuousPoint(distribution, values, objective, k, param, n, d))
    return points


def point_seed(seed: int, point: ContinuousPoint) -> int:
    """Seed of one grid point: a function of ``seed`` and the coordinates only."""
    values = "|".join(f"{name}={value!r}" for name, value in point.values)
    text = (
        f"{seed}|continuous|{point.distribution}|{values}|{point.objective}|{point.k!r}|{point.param}"
        f"|{point.samples}|{point.dims}"
    )
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def build_point_problem(point: ContinuousPoint, trials: int | None, seed: int):
    """Build (and so validate) the point's :class:`~carms_cli.continuous.problem.ContinuousProblem`."""
    from carms_cli.continuous.problem import build_problem

    given = {name: repr(value) for name, value in point.values}
    return build_problem(
        point.distribution, given, point.param, point.objective_spec, point.samples, point.dims, trials, seed
    )


def point_trials(point: ContinuousPoint, trials: int | None) -> int:
    """Return the point's trials: ``trials``, or a quarter of ``carms continuous``'s default."""
    from carms_cli.continuous.problem import default_trials

    return trials if trials is not None else default_trials(point.samples, point.dims) // 4


def rerun_command(point: ContinuousPoint, seed: int, trials: int, estimators: str | None, exact: bool) -> str:
    """Return the ``carms continuous`` command that reproduces one grid point's rows."""
    parts = ["carms", "continuous", "--dist", point.distribution]
    for name, value in point.values:
        parts += [f"--{name}", repr(value)]
    parts += ["--param", point.param, "-o", point.objective_spec, "-n", str(point.samples), "-d", str(point.dims)]
    parts += ["-t", str(trials), "--seed", str(seed)]
    if estimators:
        parts += ["-e", estimators]
    if exact:
        parts.append("--exact")
    return shlex.join(parts)


def point_command(point: ContinuousPoint, seed: int, trials: int | None, estimators: str | None, **options) -> str:
    """Return the re-run command of one grid point's rows (as :func:`point_rows` writes it)."""
    exact = bool(options.get("exact") or options.get("exact_only"))
    return rerun_command(point, point_seed(seed, point), point_trials(point, trials), estimators, exact)


def validate_point(point: ContinuousPoint, seed: int, trials: int | None, estimators: str | None, **_) -> list[str]:
    """Refuse a point that ``carms continuous`` would refuse (bad value, estimator that does not apply).

    Returns the names of the point's estimators.
    """
    from carms_cli.continuous.registry import parse_estimators

    problem = build_point_problem(point, point_trials(point, trials), point_seed(seed, point))
    return [spec.name for spec in parse_estimators(estimators, problem)]


def point_rows(
    point: ContinuousPoint,
    seed: int,
    trials: int | None,
    estimators: str | None,
    threads: int | None,
    significance: float,
    backend: str = "cpu",
    exact: bool = False,
    exact_only: bool = False,
) -> list[dict]:
    """Return the rows of one grid point: a pure function of its arguments (so it can run anywhere).

    With ``exact`` the rows carry each estimator's exact variance by quadrature beside the Monte
    Carlo one; with ``exact_only`` they carry only the exact one (nothing is sampled, and the
    Monte Carlo fields are None).
    """
    from carms_cli.continuous.registry import REFERENCE, parse_estimators
    from carms_cli.core.records import plain

    used_trials = point_trials(point, trials)
    derived = point_seed(seed, point)
    problem = build_point_problem(point, used_trials, derived)
    specs = parse_estimators(estimators, problem)
    command = rerun_command(point, derived, used_trials, estimators, exact or exact_only)
    if exact_only:
        entries = _exact_entries(problem, specs)
        used_trials = None
    else:
        from carms_cli.analysis.continuous import analyse_continuous
        from carms_cli.core.engine import set_threads
        from carms_cli.core.records import report_record

        used_threads = set_threads(threads)
        report = analyse_continuous(problem, specs, used_threads, significance, exact=exact, backend=backend)
        entries = report_record(report)["estimators"]
    rows = []
    for entry in entries:
        ci95 = entry.get("variance_total_ci95") or (None, None)
        rows.append(
            plain(
                {
                    **point.coordinates(),
                    "trials": used_trials,
                    "seed": derived,
                    "estimator": entry["name"],
                    "unbiased_by_design": entry["unbiased_by_design"],
                    "unbiased": entry.get("unbiased"),
                    "bias_max_abs_z": entry.get("bias_max_abs_z"),
                    "variance_total": entry.get("variance_total"),
                    "variance_total_ci95_low": ci95[0],
                    "variance_total_ci95_high": ci95[1],
                    "variance_exact_total": entry.get("variance_exact_total"),
                    "variance_exact_z_max": entry.get("variance_exact_z_max"),
                    "exact_note": entry.get("exact_note"),
                    f"variance_ratio_to_{REFERENCE}": entry.get("variance_ratio_to_loorf"),
                    "evaluations_per_estimate": entry["evaluations_per_estimate"],
                    "variance_times_evaluations": entry.get("variance_times_evaluations"),
                    "trials_per_second": entry.get("trials_per_second"),
                    "command": command,
                }
            )
        )
    return rows


def _exact_entries(problem, specs) -> list[dict]:
    """Return record-like entries with the exact variance of each estimator (nothing sampled)."""
    from carms_cli.continuous.registry import REFERENCE, evaluations_per_estimate
    from carms_cli.continuous.truth import exact_moments

    entries = []
    for spec in specs:
        moments = exact_moments(problem, spec.name)
        computable = not isinstance(moments, str)
        evaluations = evaluations_per_estimate(spec, problem)
        total = float(moments.variance.sum()) if computable else None
        entries.append(
            {
                "name": spec.name,
                "unbiased_by_design": True,
                "evaluations_per_estimate": evaluations,
                "variance_exact_total": total,
                "exact_note": None if computable else f"n/a: {moments}",
                "variance_ratio_to_loorf": None,
            }
        )
    base = next((e["variance_exact_total"] for e in entries if e["name"] == REFERENCE), None)
    for entry in entries:
        if base and entry["variance_exact_total"] is not None:
            entry["variance_ratio_to_loorf"] = entry["variance_exact_total"] / base
    return entries


def row_fields(distribution: str) -> tuple[str, ...]:
    """Return the row fields of a sweep over ``distribution`` (its parameters are fields)."""
    from carms_cli.continuous.registry import REFERENCE

    return (
        "distribution",
        *VALUE_AXES[distribution],
        "objective",
        "k",
        "param",
        "samples",
        "dims",
        "trials",
        "seed",
        "estimator",
        "unbiased_by_design",
        "unbiased",
        "bias_max_abs_z",
        "variance_total",
        "variance_total_ci95_low",
        "variance_total_ci95_high",
        "variance_exact_total",
        "variance_exact_z_max",
        "exact_note",
        f"variance_ratio_to_{REFERENCE}",
        "evaluations_per_estimate",
        "variance_times_evaluations",
        "trials_per_second",
        "command",
    )


def family(distribution: str) -> SweepFamily:
    """Return the continuous family's sweep declaration for ``distribution``."""
    from carms_cli.continuous.registry import REFERENCE

    if distribution not in VALUE_AXES:
        raise InputError(f"unknown distribution '{distribution}' (known: {', '.join(VALUE_AXES)})")
    axes = tuple(SweepAxis(name, _VALUE_TITLES[name]) for name in VALUE_AXES[distribution])
    return SweepFamily(
        name="continuous",
        axes=(
            *axes,
            SweepAxis("objective", "objective", numeric=False),
            SweepAxis("k", "k"),
            SweepAxis("param", "param", numeric=False),
            SweepAxis("samples", "n"),
            SweepAxis("dims", "D"),
        ),
        row_fields=row_fields(distribution),
        run_point=point_rows,
        validate_point=validate_point,
        command=point_command,
        reference=REFERENCE,
        panel_axis="param",
    )
