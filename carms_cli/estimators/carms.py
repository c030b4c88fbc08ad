"""CARMS-I: jointly antithetic categorical samples, importance-weighted leave-one-out.

``g_d = (1/(n(n−1))) Σ_{i≠j} w_d(z_{i,d}, z_{j,d}) (f_i − f_j)(e_{z_{i,d}} − p_d)`` with the
exact, unsmoothed ratio ``w_d(a, b) = p_a p_b / P_d(a, b)`` for a ≠ b (spec sections 6, 9.1, 9.4;
decision 3). Requires every sample's marginal to be p and ``P(a, b) > 0`` for every a ≠ b;
no requirement on f. Ties need no ratio: the (i, j) and (j, i) terms cancel exactly.
"""

from carms_cli.estimators import EstimatorSpec, Weighting
from carms_cli.samplers import CARMS_I_DIRICHLET, CARMS_I_GAUSSIAN

CARMS = EstimatorSpec(
    name="carms",
    summary="CARMS-I: antithetic inverse-CDF samples, Dirichlet copula, exact ratio",
    sampler=CARMS_I_DIRICHLET,
    weighting=Weighting.IMPORTANCE,
    unbiased_by_design=True,
    reference="Dimitriev & Zhou 2021",
)

CARMS_GAUSS = EstimatorSpec(
    name="carms-gauss",
    summary="CARMS-I with the Gaussian copula (rho = -1/(n-1)), exact ratio",
    sampler=CARMS_I_GAUSSIAN,
    weighting=Weighting.IMPORTANCE,
    unbiased_by_design=True,
    reference="Dimitriev & Zhou 2021",
)
