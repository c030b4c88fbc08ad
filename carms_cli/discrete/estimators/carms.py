"""The CARMS family: jointly antithetic samples, importance-weighted leave-one-out.

``g_d = (1/(n(n−1))) Σ_{i≠j} w_d(z_{i,d}, z_{j,d}) (f_i − f_j)(e_{z_{i,d}} − p_d)`` with the
exact, unsmoothed ratio ``w_d(a, b) = p_a p_b / P_d(a, b)`` for a ≠ b (spec sections 6, 9;
decision 3). Requires every sample's marginal to be p and ``P(a, b) > 0`` for every a ≠ b;
no requirement on f. Ties need no ratio: the (i, j) and (j, i) terms cancel exactly.

Names say construction and copula: ``carms`` (CARMS-I), ``carms-g`` (Gumbel-max), ``carms-sb``
(stick-breaking); no suffix for the Dirichlet copula, ``-gauss`` for the Gaussian one,
``-indep`` for independent samples (then w = 1 and the estimator is LOORF on that
construction's samples: a control). ``-ref`` variants reproduce the reference code's biased
ratios so their bias can be measured.
"""

from carms_cli.discrete.estimators import EstimatorSpec, Weighting
from carms_cli.discrete.sampling.copulas import Copula
from carms_cli.discrete.sampling.samplers import Construction, find_sampler

_CONSTRUCTION = {
    Construction.INVERSE: ("carms", "CARMS-I (inverse CDF, random reference order)"),
    Construction.GUMBEL: ("carms-g", "CARMS-G (Gumbel-max, one tuple per category)"),
    Construction.STICK: ("carms-sb", "stick-breaking CARMS (one tuple per stage)"),
}
_COPULA = {
    Copula.DIRICHLET: ("", "Dirichlet copula"),
    Copula.GAUSSIAN: ("-gauss", "Gaussian copula"),
    Copula.INDEPENDENT: ("-indep", "independent samples (w = 1, a control)"),
}


def _spec(construction: Construction, copula: Copula) -> EstimatorSpec:
    prefix, what = _CONSTRUCTION[construction]
    suffix, how = _COPULA[copula]
    return EstimatorSpec(
        name=prefix + suffix,
        summary=f"{what}, {how}, exact ratio",
        sampler=find_sampler(construction, copula),
        weighting=Weighting.IMPORTANCE,
        unbiased_by_design=True,
        reference="Dimitriev & Zhou 2021",
    )


FAMILY = [_spec(c, k) for c in _CONSTRUCTION for k in (Copula.DIRICHLET, Copula.GAUSSIAN, Copula.INDEPENDENT)]
CARMS, CARMS_GAUSS = FAMILY[0], FAMILY[1]

#: Reference code's number of Monte Carlo sample sets per call for CARMS-G's pair pmf.
REFERENCE_MC_DRAWS = 100

CARMS_REF = EstimatorSpec(
    name="carms-ref",
    summary="CARMS-I with the reference code's ratio clip((pp^T + 1e-3)/(P + 1e-3), 0.01, 10): biased",
    sampler=find_sampler(Construction.INVERSE, Copula.DIRICHLET),
    weighting=Weighting.IMPORTANCE,
    unbiased_by_design=False,
    reference="alekdimi/carms vae.py::matrix_grad",
    ratio="reference",
)

CARMS_G_REF = EstimatorSpec(
    name="carms-g-ref",
    summary=f"CARMS-G with the reference code's per-call Monte Carlo pair pmf ({REFERENCE_MC_DRAWS} sets) "
    "and smoothed, clipped ratio: biased",
    sampler=find_sampler(Construction.GUMBEL, Copula.DIRICHLET),
    weighting=Weighting.IMPORTANCE,
    unbiased_by_design=False,
    reference="alekdimi/carms antithetic.GumbelCategorical",
    ratio="reference-mc",
    mc_pmf_draws=REFERENCE_MC_DRAWS,
)
