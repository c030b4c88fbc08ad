"""ARSM (Yin, Yue & Zhou 2019; spec section 5), as the reference ``carms/vae.py`` runs it.

Per variable d draw ``π_d ~ Dirichlet(1_K)``. For every pair (c, j) swap entries c and j of
every π_d and take ``z^{c↔j}_d = argmin_i (log π^{c↔j}_{d,i} − l_{d,i})`` (no swap: an exponential
race, so ``z ~ p``). With ``F(c, j) = f(z^{c↔j})`` and ``f̄^j = (1/K) Σ_m F(m, j)``::

    g_{d,c} = Σ_j (F(c, j) − f̄^j)(1/K − π_{d,j})

Unbiased. Its cost is not n: it is the number of *distinct* configurations among the
K(K − 1)/2 + 1 swaps, which depends on the draw; the kernel counts it per estimate and every
report shows its mean (``--samples`` does not change ARSM).
"""

from carms_cli.discrete.estimators import EstimatorSpec, Weighting
from carms_cli.discrete.estimators.requirements import MaxCategories
from carms_cli.discrete.sampling.samplers import ARSM_SWAPS

#: Largest K: the kernel does O(K² D) work and keeps K(K − 1)/2 + 1 configurations per trial.
MAX_ARSM_CATEGORIES = 128

ARSM = EstimatorSpec(
    name="arsm",
    summary="ARSM: one Dirichlet(1) draw, all swap configurations (cost = distinct evaluations)",
    sampler=ARSM_SWAPS,
    weighting=Weighting.ARSM,
    unbiased_by_design=True,
    reference="Yin, Yue & Zhou 2019",
    requires=(MaxCategories(MAX_ARSM_CATEGORIES, "O(K^2) swaps"),),
    has_samples=False,
)
