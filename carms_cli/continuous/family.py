"""The continuous family's side of the contract (:mod:`carms_cli.core.family`).

:class:`ContinuousFamily` is one continuous problem as the shared layers see it: the reported
coordinates are the gradients w.r.t. the chosen parameters of each coordinate (``mu[0]``, …),
every coordinate is bias-tested (the estimates are means of n samples of a distribution with
finite variance, so at :data:`MIN_TRIALS_TESTED` trials and above the normal approximation of
the z-test holds), and Gamma and von Mises runs carry the rejection sampler's rejections per trial.
:class:`ContinuousRun` is one registered estimator on it: the kernel through the shared engine,
the exact moments by quadrature (:mod:`carms_cli.continuous.exact`) where computable.
"""

from collections.abc import Callable

import numpy as np

from carms_cli.continuous.codes import DistributionCode
from carms_cli.continuous.problem import PROBLEM_KEYS, ContinuousProblem
from carms_cli.continuous.registry import REFERENCE, ContinuousSpec
from carms_cli.core.family import ExactMoments, Reported
from carms_cli.core.formatting import format_matrix
from carms_cli.core.records import Column, RawResult

#: Fewest trials at which the bias z-test is run (below it every coordinate is untested).
MIN_TRIALS_TESTED = 100
#: Distributions drawn by a rejection sampler (Marsaglia–Tsang, Best–Fisher) and its name
#: (Beta and Dirichlet variates are ratios of Gammas).
REJECTION_SAMPLERS = {
    DistributionCode.GAMMA: "Gamma",
    DistributionCode.BETA: "Gamma",
    DistributionCode.DIRICHLET: "Gamma",
    DistributionCode.VONMISES: "von Mises",
}


class ContinuousFamily:
    """One continuous problem, as the engine, statistics and presenters see it."""

    name = "continuous"
    problem_keys = PROBLEM_KEYS
    reference = REFERENCE
    evaluations_note = "calls of f or f′; MVD: 2 per sample and coordinate"
    exact_method = "by quadrature"

    def __init__(self, problem: ContinuousProblem):
        from carms_cli.continuous.truth import exact_gradient

        self.problem = problem
        self._names = problem.coordinate_names()
        self._gradient = np.asarray(exact_gradient(problem), dtype=float)

    def parameter_name(self, index: int) -> str:
        """Return the name of reported coordinate ``index``, e.g. ``sigma[1]``."""
        return self._names[index]

    def exact_gradient(self) -> np.ndarray:
        """Return the exact gradient of the reported coordinates (closed form or quadrature)."""
        return self._gradient

    def reported(self, raw: RawResult) -> Reported:
        """Return every coordinate, all testable from :data:`MIN_TRIALS_TESTED` trials on."""
        testable = np.full(self._gradient.shape, raw.trials >= MIN_TRIALS_TESTED)
        return Reported(raw.mean, raw.m2, self._gradient, raw.q_sum, raw.q_sq_sum, testable)

    def header_lines(self) -> list[str]:
        """Return the lines stating the problem: distribution, objective, sizes, seed and exact gradient."""
        p = self.problem
        return [
            f"{p.describe()} · D={p.dims} · n={p.samples} samples · trials={p.trials:,} · seed={p.seed}",
            f"objective {p.objective.spec}: {p.objective.description}",
            "exact gradient (" + ", ".join(self._names[:6]) + (", …" if len(self._names) > 6 else "") + "): "
            + format_matrix(self._gradient[None, :]),
        ]

    def columns(self) -> tuple[Column, ...]:
        """Return the rejection column for runs drawn by a rejection sampler (its rejections per trial)."""
        sampler = REJECTION_SAMPLERS.get(self.problem.code)
        if sampler is None:
            return ()
        return (
            Column(
                "rejects/trial",
                "rejections_per_trial",
                ("rejections_per_trial",),
                digits=3,
                note=f"rejects/trial: {sampler} proposals rejected per trial",
            ),
        )

    def legend(self) -> tuple[str, ...]:
        """Return the legend lines: what goes untested, then the family's columns."""
        lines = [f"untested: every coordinate when fewer than {MIN_TRIALS_TESTED} trials ran"]
        sampler = REJECTION_SAMPLERS.get(self.problem.code)
        if sampler is not None:
            lines.append(f"rejects/trial: proposals the {sampler} sampler rejected per trial (it redraws; still exact)")
        return tuple(lines)

    def untested_reason(self) -> str:
        """Return why coordinates go untested (too few trials)."""
        return f"fewer than {MIN_TRIALS_TESTED} trials; raise --trials"


class ContinuousRun:
    """One registered estimator on a :class:`ContinuousFamily`'s problem."""

    unbiased_by_design = True

    def __init__(self, family: ContinuousFamily, spec: ContinuousSpec, backend: str = "cpu"):
        self.family = family
        self.spec = spec
        self.backend = backend
        self.name = spec.name
        self.summary = spec.summary

    def source(self):
        """Return the engine's chunk source of this estimator."""
        from carms_cli.continuous.source import ContinuousSource

        return ContinuousSource(self.family.problem, self.spec, self.family.exact_gradient(), self.backend)

    def sample(self, trials: int, threads: int, progress: Callable[[int], None] | None) -> RawResult:
        """Run ``trials`` trials through the shared engine."""
        from carms_cli.core.engine import run_source

        return run_source(self.source(), trials, threads, progress)

    def details(self, raw: RawResult) -> dict:
        """Return the rejection sampler's rejections per trial (runs drawn by one only)."""
        if self.family.problem.code not in REJECTION_SAMPLERS:
            return {}
        return {"rejections_per_trial": raw.extras["rejections"] / raw.trials}

    def exact(self) -> ExactMoments | str:
        """Return the exact moments of one estimate by quadrature, or why they are not computable."""
        from carms_cli.continuous.truth import exact_moments

        return exact_moments(self.family.problem, self.spec.name)
