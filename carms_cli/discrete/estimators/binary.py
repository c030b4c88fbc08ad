"""Binary estimators (K = 2; gradient w.r.t. φ with p = sigmoid(φ) = P(z = 1); spec 4 and 8).

* ARM (Yin & Zhou 2019): ``(f(b) − f(b̃))(u − 1/2)`` with ``b = 1[u > 1 − p]``, ``b̃ = 1[u < p]``;
  unbiased for ``p(1 − p)(f(1) − f(0))``.
* DisARM (Dong, Mnih & Tucker 2020): u integrated out given (b, b̃):
  ``½ (f(b) − f(b̃)) max(p, 1 − p)(b − b̃)``.
  Both average n/2 independent pairs, so an estimate costs n evaluations; with several variables
  every pair shares one uniform per variable and f is evaluated on the full vectors.
* ARMS (Dimitriev & Zhou 2021): n samples from an n-dimensional copula, LOORF × the exact debias
  ``p(1 − p)/P(z_i = 1, z_j = 0)``. This is CARMS-I at K = 2 — the copula's exclusive lower tail
  goes to the rarer value (the p > 0.5 inversion) — with the Dirichlet (``arms``) or Gaussian
  (``arms-gauss``) copula; it draws exactly the samples ``carms``/``carms-gauss`` draw at K = 2.
"""

from carms_cli.discrete.estimators import EstimatorSpec, Weighting
from carms_cli.discrete.estimators.requirements import BINARY_ONLY, EVEN_SAMPLES
from carms_cli.discrete.sampling.copulas import Copula
from carms_cli.discrete.sampling.samplers import ANTITHETIC_PAIRS, Construction, find_sampler

ARM = EstimatorSpec(
    name="arm",
    summary="ARM: n/2 antithetic pairs, (f(b) - f(b~))(u - 1/2)",
    sampler=ANTITHETIC_PAIRS,
    weighting=Weighting.ARM,
    unbiased_by_design=True,
    reference="Yin & Zhou 2019",
    requires=(BINARY_ONLY, EVEN_SAMPLES),
)

DISARM = EstimatorSpec(
    name="disarm",
    summary="DisARM: n/2 antithetic pairs, u integrated out given (b, b~)",
    sampler=ANTITHETIC_PAIRS,
    weighting=Weighting.DISARM,
    unbiased_by_design=True,
    reference="Dong, Mnih & Tucker 2020",
    requires=(BINARY_ONLY, EVEN_SAMPLES),
)

ARMS = EstimatorSpec(
    name="arms",
    summary="ARMS-D: Dirichlet copula, rarer value on the exclusive tail, exact debias",
    sampler=find_sampler(Construction.INVERSE, Copula.DIRICHLET),
    weighting=Weighting.IMPORTANCE,
    unbiased_by_design=True,
    reference="Dimitriev & Zhou 2021",
    requires=(BINARY_ONLY,),
)

ARMS_GAUSS = EstimatorSpec(
    name="arms-gauss",
    summary="ARMS-N: Gaussian copula (rho = -1/(n-1)), exact debias via the bivariate normal CDF",
    sampler=find_sampler(Construction.INVERSE, Copula.GAUSSIAN),
    weighting=Weighting.IMPORTANCE,
    unbiased_by_design=True,
    reference="Dimitriev & Zhou 2021",
    requires=(BINARY_ONLY,),
)

BINARY = [ARM, DISARM, ARMS, ARMS_GAUSS]
