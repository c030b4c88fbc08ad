"""UNORD: the unordered set estimator with built-in baseline (Kool, van Hoof & Welling 2020; spec section 10).

Sample a set S of k = n distinct joint configurations without replacement from q (exactly:
sequentially, each from q restricted to the configurations not yet drawn, variable by
variable). With Plackett–Luce set probabilities ``P^{D∖A}(B)`` (the denominators start at
``1 − q(A)``)::

    R(S, s)  = P^{D∖{s}}(S∖{s}) / P(S)
    B(S, s)  = q(s) f(s) + Σ_{s'≠s} q(s') P^{D∖{s,s'}}(S∖{s,s'}) / P^{D∖{s}}(S∖{s}) f(s')
    g        = Σ_{s∈S} q(s) R(S, s)(f(s) − B(S, s)) ∇log q(s)

with ``∇_{l_d} log q(s) = e_{s_d} − p_d``. Every R term is computed exactly (a dynamic
programme over the subsets of S, O(n³ 2ⁿ) per estimate); there is no "covers almost all mass"
shortcut. Unbiased.
"""

from carms_cli.discrete.estimators import EstimatorSpec, Weighting
from carms_cli.discrete.estimators.requirements import DISTINCT_CONFIGURATIONS, MaxSamples
from carms_cli.discrete.sampling.samplers import WITHOUT_REPLACEMENT

#: Largest n: the exact R terms cost about n³·2ⁿ operations per estimate (10⁶ at n = 10).
MAX_UNORD_SAMPLES = 10

UNORD = EstimatorSpec(
    name="unord",
    summary="UNORD: n distinct configurations without replacement, built-in baseline, exact R",
    sampler=WITHOUT_REPLACEMENT,
    weighting=Weighting.UNORD,
    unbiased_by_design=True,
    reference="Kool, van Hoof & Welling 2020",
    requires=(
        MaxSamples(MAX_UNORD_SAMPLES, "its exact R terms cost about n^3 2^n per estimate"),
        DISTINCT_CONFIGURATIONS,
    ),
)
