"""Score-function estimators on independent samples (spec sections 2 and 3).

* REINFORCE: ``g = (1/n) Σ_i f(z_i) (e_{z_i} − p)``; unbiased for any samples with marginal p.
* LOORF / VarGrad: ``g = (1/(n−1)) Σ_i (f(z_i) − f̄)(e_{z_i} − p)``, the leave-one-out baseline;
  unbiased for independent samples (biased on antithetic ones, which is why CARMS reweights).
"""

from carms_cli.discrete.estimators import EstimatorSpec, Weighting
from carms_cli.discrete.sampling.samplers import INDEPENDENT

REINFORCE = EstimatorSpec(
    name="reinforce",
    summary="n-sample score function, no baseline",
    sampler=INDEPENDENT,
    weighting=Weighting.SCORE,
    unbiased_by_design=True,
    reference="Williams 1992",
)

LOORF = EstimatorSpec(
    name="loorf",
    summary="REINFORCE with the leave-one-out baseline (VarGrad)",
    sampler=INDEPENDENT,
    weighting=Weighting.LEAVE_ONE_OUT,
    unbiased_by_design=True,
    reference="Kool et al. 2019; Richter et al. 2020",
)
