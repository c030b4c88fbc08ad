"""Regression gates: compare two ``carms variance`` JSON records estimator by estimator.

Two runs are comparable when they come from the same family and state the same problem: every
config entry the family lists in ``problem_keys`` agrees (discrete: K, n, D, probabilities,
objective, gradient target; arrays to 1e-12); trial counts and seeds may differ. Records written
before families existed have no ``problem_keys`` and are read as discrete ones. When both records
carry an ``objective_fingerprint`` (SHA-256 of the objective's contents: its tables, or its kernel
parameters), they must agree too: the objective's name alone does not say what a seeded table or
an edited file held; a record without one is read as before. For an estimator in both runs:

* variance: ``R = V_current / V_baseline`` of the total variances. With standard errors from
  each run's 95% interval, ``SE(log R) = √((SE_b/V_b)² + (SE_c/V_c)²)``; the variance has
  *regressed* when ``(log R − log(1 + tol)) / SE(log R) > Φ⁻¹(1 − α/m)`` over the m estimators
  compared (one-sided, Bonferroni), i.e. it is significantly more than ``tol`` worse; it has
  *improved* when symmetrically significantly below ``1/(1 + tol)``;
* bias: an estimator that is unbiased by design and passed the bias test in the baseline but
  fails it now has regressed.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from carms_cli.core.errors import InputError
from carms_cli.discrete.problem import PROBLEM_KEYS as DISCRETE_PROBLEM_KEYS

Z_95 = 1.959963984540054
#: Records written before ``problem_keys`` existed are discrete ones: read them with its keys.
LEGACY_PROBLEM_KEYS = DISCRETE_PROBLEM_KEYS


#: Tolerances accepted: from 0 up to (not including) 1000% more variance.
MAX_TOLERANCE = 10.0
TOLERANCE_FORMS = "write 'variance:10%' (a percentage) or 'variance:x1.10' (a ratio); 'variance:' is optional"


def parse_tolerance(text: str) -> float:
    """Return the allowed relative increase of the variance: ``variance:10%`` or ``variance:x1.10`` → 0.10.

    A percentage needs its ``%`` and a ratio its ``x``: a bare number (``variance:5``) could mean
    5%, 500% or a ratio of 5, so it is refused (exit 2) with the forms that are accepted.
    """
    kind, colon, value = text.strip().rpartition(":") if ":" in text else ("", "", text.strip())
    if colon and kind.strip().lower() != "variance":
        raise InputError(f"--tolerance supports the variance only, got '{text}': {TOLERANCE_FORMS}")
    value = value.strip()
    if not (value.endswith("%") or value[:1].lower() in ("x", "×", "*")):
        raise InputError(f"--tolerance '{text}' is ambiguous (a percentage or a ratio?): {TOLERANCE_FORMS}")
    try:
        number = float(value[:-1]) / 100.0 if value.endswith("%") else float(value[1:]) - 1.0
    except ValueError:
        raise InputError(f"--tolerance expects a percentage or a ratio, got '{text}': {TOLERANCE_FORMS}") from None
    if not (math.isfinite(number) and 0 <= number < MAX_TOLERANCE):
        raise InputError(
            f"--tolerance must be at least 0% (x1) and below {MAX_TOLERANCE:.0%} (x{1 + MAX_TOLERANCE:g}), got '{text}'"
        )
    return number


def tolerance_text(tolerance: float) -> str:
    """Return ``tolerance`` as ``--tolerance`` writes it: ``variance:10%``."""
    return f"variance:{tolerance * 100:.4g}%"


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_record(record, label: str) -> None:
    """Raise InputError (exit 2) naming what makes ``record`` unusable as a variance record.

    Checks the structure ``compare`` reads: the schema, a config object and a list of estimator
    entries, each with a name and the variance fields (numbers or null).
    """
    if not isinstance(record, dict) or record.get("schema") != "carms-cli/variance/1":
        raise InputError(f"the {label} is not a 'carms variance --json' record (schema carms-cli/variance/1)")
    if not isinstance(record.get("config"), dict) or not isinstance(record.get("estimators"), list):
        raise InputError(f"the {label} record is damaged: it needs a 'config' object and an 'estimators' list")
    for index, entry in enumerate(record["estimators"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise InputError(f"the {label} record is damaged: estimator entry {index} has no name")
        interval = entry.get("variance_total_ci95")
        shapes = (
            entry.get("variance_total") is None or _finite(entry.get("variance_total")),
            isinstance(interval, list) and len(interval) == 2 and all(x is None or _finite(x) for x in interval),
            isinstance(entry.get("unbiased_by_design"), bool),
            entry.get("unbiased") in (True, False, None),
        )
        if not all(shapes):
            raise InputError(f"the {label} record is damaged: the entry of '{entry['name']}' lacks its variance fields")


def check_comparable(baseline: dict, current: dict) -> None:
    """Raise InputError (exit 2) saying why two records are damaged or state different problems."""
    for record, label in ((baseline, "baseline"), (current, "current")):
        check_record(record, label)
    b, c = baseline["config"], current["config"]
    if b.get("family", "discrete") != c.get("family", "discrete"):
        raise InputError(f"runs are not comparable: family differs ({b.get('family')!r} vs {c.get('family')!r})")
    keys = b.get("problem_keys") or LEGACY_PROBLEM_KEYS
    if list(keys) != list(c.get("problem_keys") or LEGACY_PROBLEM_KEYS):
        raise InputError("runs are not comparable: they state their problems by different keys")
    for key in keys:
        if not _same(b.get(key), c.get(key)):
            if key == "probs":
                raise InputError("runs are not comparable: the probabilities differ")
            raise InputError(f"runs are not comparable: {key} differs ({b.get(key)!r} vs {c.get(key)!r})")
    # checked after the keys, which say more plainly what differs
    fingerprints = b.get("objective_fingerprint"), c.get("objective_fingerprint")
    if None not in fingerprints and fingerprints[0] != fingerprints[1]:
        raise InputError(
            "runs are not comparable: the objective's contents differ (objective_fingerprint "
            f"{str(fingerprints[0])[:19]}… vs {str(fingerprints[1])[:19]}…)"
        )



def _same(a, b) -> bool:
    """Equal config values; lists of numbers (arrays) equal to 1e-12."""
    if isinstance(a, list) and isinstance(b, list):
        try:
            return np.shape(a) == np.shape(b) and bool(np.allclose(a, b, rtol=0, atol=1e-12))
        except (TypeError, ValueError):
            return a == b
    return a == b


@dataclass(frozen=True)
class Comparison:
    """One estimator in both runs (or in one of them)."""

    name: str
    status: str  # "ok", "improved", "regressed", "new", "missing"
    variance_baseline: float | None = None
    variance_current: float | None = None
    ratio: float | None = None
    z: float | None = None  # log(R)/SE(log R): how many standard errors the ratio is from 1
    bias_baseline: bool | None = None
    bias_current: bool | None = None
    reason: str = ""


def _se(entry: dict) -> float | None:
    """Return the standard error of the total variance from its 95% interval (None if not finite)."""
    low, high = entry["variance_total_ci95"]
    if not (_finite(low) and _finite(high)) or not math.isfinite(high - low):
        return None
    return (high - low) / (2 * Z_95)


def compare_records(baseline: dict, current: dict, tolerance: float, significance: float = 1e-3) -> list[Comparison]:
    """Compare every estimator of two comparable records (see the module docstring)."""
    check_comparable(baseline, current)
    base = {e["name"]: e for e in baseline["estimators"]}
    curr = {e["name"]: e for e in current["estimators"]}
    shared = [name for name in curr if name in base]
    threshold = float(-special.ndtri(significance / max(len(shared), 1)))
    out = []
    for name in curr:
        if name not in base:
            out.append(Comparison(name, "new", variance_current=curr[name]["variance_total"]))
            continue
        b, c = base[name], curr[name]
        vb, vc = b["variance_total"], c["variance_total"]
        status, reason, ratio, z = "ok", "", None, None
        if not _finite(vb) or _se(b) is None:
            raise InputError(
                f"the baseline's total variance of '{name}' or its interval is not a finite number (objective "
                "values too large for float64?): record the baseline again"
            )
        if not _finite(vc) or _se(c) is None:
            status, reason = "regressed", "total variance or its interval is not a finite number"
        elif vb > 0 and vc > 0:
            ratio = vc / vb
            se_log = math.hypot(_se(b) / vb, _se(c) / vc)
            if se_log > 0:
                z_worse = (math.log(ratio) - math.log1p(tolerance)) / se_log
                z_better = (math.log(ratio) + math.log1p(tolerance)) / se_log
                z = math.log(ratio) / se_log  # shown: the plain z of log R against 0
                if z_worse > threshold:
                    status, reason = "regressed", f"variance ×{ratio:.3f} (z = {z_worse:.2f} > {threshold:.2f})"
                elif z_better < -threshold:
                    status, reason = "improved", f"variance ×{ratio:.3f}"
        if c["unbiased_by_design"] and b.get("unbiased") is True and c.get("unbiased") is False:
            status = "regressed"
            reason = (reason + "; " if reason else "") + f"now biased (max|z| = {c['bias_max_abs_z']:.3g})"
        out.append(Comparison(name, status, vb, vc, ratio, z, b.get("unbiased"), c.get("unbiased"), reason))
    out.extend(
        Comparison(name, "missing", variance_baseline=base[name]["variance_total"]) for name in base if name not in curr
    )
    return out


def summary_line(comparisons: list[Comparison], tolerance: float) -> str:
    """Return the one-line verdict: regressed estimators by name, then the count of each status."""
    counts = {
        status: sum(1 for c in comparisons if c.status == status)
        for status in ("regressed", "improved", "ok", "new", "missing")
    }
    regressed = [c.name for c in comparisons if c.status == "regressed"]
    head = "REGRESSION" if regressed else "no regression"
    detail = f": {', '.join(regressed)}" if regressed else ""
    return (
        f"compare: {head}{detail} · {counts['regressed']} regressed, {counts['improved']} improved, "
        f"{counts['ok']} unchanged, {counts['new']} new, {counts['missing']} missing "
        f"(tolerance {tolerance_text(tolerance)})"
    )
