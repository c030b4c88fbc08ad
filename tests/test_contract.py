"""The family contract is real: a test-only family runs end to end through the shared layers.

``BernoulliFamily`` knows nothing of categories: D independent Bernoulli variables
``z_d ~ Bernoulli(p_d)``, ``p_d = sigmoid(φ_d)``, a fixed linear objective ``f(z) = c₀ + Σ_d c_d z_d``
and the gradient w.r.t. φ, ``∂E[f]/∂φ_d = c_d p_d (1 − p_d)``. Its two estimators draw n
samples per estimate: ``score`` (REINFORCE, ``g_d = (1/n) Σ_i f(z_i)(z_{i,d} − p_d)``) and
``score-baseline`` (the same with ``f − c₀``, still unbiased). Its kernel is plain NumPy, one
generator per chunk, so it does not depend on batching. Its extra is the count of ones drawn.

It goes through the engine, the statistics, the records, the JSON/CSV exporters, the table,
the gates and ``compare`` — none of which may assume a discrete problem.
"""

import json
import math

import numpy as np
import pytest

from carms_cli.analysis.compare import compare_records
from carms_cli.core.engine import run_source
from carms_cli.core.errors import InputError
from carms_cli.core.family import ExactMoments, Reported
from carms_cli.core.gates import bias_gate, require_reference, variance_ratio_gate
from carms_cli.core.records import ChunkRows, Column, report_record
from carms_cli.core.stats import run_estimators
from carms_cli.present.export import to_csv, to_json
from carms_cli.present.table import print_report


class BernoulliSource:
    """Chunks of ``chunk_size`` trials; chunk c draws from ``default_rng([seed, stream, c])``."""

    extra_names = ("ones",)
    chunk_size = 500

    def __init__(self, p, coefficients, offset, baseline, samples, seed, stream):
        self.p, self.c, self.offset, self.baseline = p, coefficients, offset, baseline
        self.samples, self.seed, self.stream = samples, seed, stream
        self.shape = (p.size,)

    def batch_rows(self, threads):
        return 3  # small batches: several merges per run

    def run(self, first_trial, rows, last_trial, threads):
        d_count = self.p.size
        count = np.zeros(rows, dtype=np.int64)
        mean, m2 = np.zeros((rows, d_count)), np.zeros((rows, d_count))
        scalars = np.zeros((rows, 4))
        gradient = self.c * self.p * (1 - self.p)
        for row in range(rows):
            start = first_trial + row * self.chunk_size
            stop = min(start + self.chunk_size, last_trial)
            m = max(stop - start, 0)
            if m == 0:
                continue
            chunk = start // self.chunk_size
            rng = np.random.default_rng([self.seed, self.stream, chunk])
            z = (rng.random((m, self.samples, d_count)) < self.p).astype(float)
            f = self.offset + z @ self.c - (self.offset if self.baseline else 0.0)
            g = (f[:, :, None] * (z - self.p)).mean(axis=1)
            q = ((g - gradient) ** 2).sum(axis=1)
            count[row] = m
            mean[row] = g.mean(axis=0)
            m2[row] = ((g - mean[row]) ** 2).sum(axis=0)
            scalars[row] = (q.sum(), (q * q).sum(), m * self.samples, z.sum())
        return ChunkRows(count, mean, m2, scalars)


class BernoulliFamily:
    name = "bernoulli-test"
    problem_keys = ("probs", "coefficients", "offset", "samples")
    reference = "score"
    evaluations_note = ""
    exact_method = "enumerated"

    def __init__(self, p, coefficients, offset, samples):
        self.p, self.c, self.offset, self.samples = np.asarray(p), np.asarray(coefficients), offset, samples

    def parameter_name(self, index):
        return f"phi[{index}]"

    def exact_gradient(self):
        return self.c * self.p * (1 - self.p)

    def reported(self, raw):
        testable = raw.trials * self.samples * np.minimum(self.p, 1 - self.p) >= 100
        return Reported(raw.mean, raw.m2, self.exact_gradient(), raw.q_sum, raw.q_sq_sum, testable)

    def header_lines(self):
        return [f"Bernoulli p = {self.p.tolist()} · f = {self.offset} + {self.c.tolist()}·z · n = {self.samples}"]

    def columns(self):
        return (Column("ones", "ones_rate", ("ones_rate",), decimals=3),)

    def legend(self):
        return ("untested: a variable whose rarer value is expected fewer than 100 times", "ones: share of ones")

    def untested_reason(self):
        return "rarer value expected fewer than 100 times; raise the trials"


class BernoulliRun:
    unbiased_by_design = True

    def __init__(self, family, name, baseline, seed, stream):
        self.family, self.name, self.baseline = family, name, baseline
        self.summary = "REINFORCE" + (" with the constant baseline c0" if baseline else "")
        self.seed, self.stream = seed, stream

    def sample(self, trials, threads, progress):
        fam = self.family
        source = BernoulliSource(fam.p, fam.c, fam.offset, self.baseline, fam.samples, self.seed, self.stream)
        return run_source(source, trials, threads, progress)

    def details(self, raw):
        return {"ones_rate": raw.extras["ones"] / (raw.trials * self.family.samples * self.family.p.size)}

    def exact(self):
        """Exact moments of g_d = (1/n) Σ_i f_i (z_{i,d} − p_d) by enumerating one sample's 2^D outcomes."""
        fam = self.family
        d_count = fam.p.size
        outcomes = np.array([[(index >> d) & 1 for d in range(d_count)] for index in range(2**d_count)], dtype=float)
        prob = np.prod(np.where(outcomes == 1, fam.p, 1 - fam.p), axis=1)
        f = outcomes @ fam.c + (0.0 if self.baseline else fam.offset)
        h = f[:, None] * (outcomes - fam.p)  # one sample's term
        mean = prob @ h
        central = h - mean
        var1 = prob @ central**2
        mu4 = prob @ central**4
        n = fam.samples
        # the mean of n iid terms: Var = σ²/n, μ₄ = (μ₄ + 3(n − 1)σ⁴)/n³
        return ExactMoments(mean, var1 / n, (mu4 + 3 * (n - 1) * var1**2) / n**3)


def _report(seed=11, coefficients=(2.0, -1.0, 0.5), trials=40_000, exact=True):
    family = BernoulliFamily([0.3, 0.6, 0.5], coefficients, offset=5.0, samples=3)
    runs = [BernoulliRun(family, "score", False, seed, 1), BernoulliRun(family, "score-baseline", True, seed, 2)]
    config = {
        "probs": family.p.tolist(),
        "coefficients": list(coefficients),
        "offset": family.offset,
        "samples": family.samples,
        "trials": trials,
        "seed": seed,
        "estimators": [run.name for run in runs],
        "backend": "numpy",
        "backend_note": None,
        "threads": 1,
    }
    return run_estimators(family, runs, trials, 1, config, significance=1e-3, exact=exact)


def test_the_engine_merges_a_foreign_family_independently_of_batching():
    family = BernoulliFamily([0.3, 0.6], [1.0, 2.0], offset=1.0, samples=2)
    source = BernoulliSource(family.p, family.c, family.offset, False, 2, seed=3, stream=1)
    raw = run_source(source, 2_750, threads=1)
    source.batch_rows = lambda threads: 100  # one batch instead of two
    whole = run_source(source, 2_750, threads=1)
    assert raw.trials == whole.trials == 2_750
    assert np.allclose(raw.mean, whole.mean, rtol=1e-12) and np.allclose(raw.m2, whole.m2, rtol=1e-12)
    assert raw.evaluation_sum == 2_750 * 2 and raw.extras["ones"] == whole.extras["ones"] > 0


def test_statistics_of_a_foreign_family_match_its_exact_moments():
    report = _report()
    assert report.config["family"] == "bernoulli-test"
    assert report.config["problem_keys"] == ["probs", "coefficients", "offset", "samples"]
    for result in report.results:
        assert result.mean.shape == (3,) and result.bias_tested_coordinates == 3
        assert result.unbiased is True  # |z| below the Bonferroni threshold (≈ 3.9 for 3 coordinates)
        assert result.bias_exact_max_abs < 1e-12  # the exact mean is the gradient
        assert result.variance_exact_z_max < 5  # Monte Carlo variance = exact variance within error
        assert result.evaluations_per_estimate == 3 and result.bias_worst_coordinate.startswith("phi[")
        assert 0.4 < result.details["ones_rate"] < 0.55
    score, baseline = report.results
    # ratios are taken against the family's reference estimator
    assert score.variance_ratio_to_loorf == 1 and baseline.variance_ratio_to_loorf < 0.5
    assert bias_gate(report) == [] and variance_ratio_gate(report, 2.0) == []
    assert variance_ratio_gate(report, 0.99) == ["variance ratio to score above 0.99: score (1)"]
    require_reference(["score", "score-baseline"], report.reference, "--max-variance-ratio")
    with pytest.raises(InputError, match="needs score among the estimators"):
        require_reference(["score-baseline"], report.reference, "--max-variance-ratio")


def test_records_and_presenters_take_the_family_columns(capsys):
    report = _report(trials=6_000, exact=False)
    record = json.loads(to_json(report))
    assert [entry["name"] for entry in record["estimators"]] == ["score", "score-baseline"]
    assert "ones_rate" in record["estimators"][0] and "duplicates" not in record["estimators"][0]
    header, *rows = to_csv(report).splitlines()
    assert "ones_rate" in header.split(",") and "duplicates_mean_unique" not in header and len(rows) == 2
    report = _report(trials=6_000, exact=False)
    report.config["threads"] = 1
    print_report(report)
    out = capsys.readouterr().out
    assert "Bernoulli p = [0.3, 0.6, 0.5]" in out and "÷score" in out and "ones" in out
    assert "distinct" not in out and "categor" not in out


def test_compare_reads_the_family_problem_keys():
    baseline = report_record(_report(seed=1, trials=8_000, exact=False))
    current = report_record(_report(seed=2, trials=8_000, exact=False))
    statuses = {c.name: c.status for c in compare_records(baseline, current, tolerance=0.1)}
    assert statuses == {"score": "ok", "score-baseline": "ok"}
    other = report_record(_report(seed=2, coefficients=(2.0, -1.0, 0.75), trials=8_000, exact=False))
    with pytest.raises(InputError, match="coefficients differs"):
        compare_records(baseline, other, tolerance=0.1)
    discrete = json.loads(json.dumps(baseline))
    discrete["config"]["family"] = "discrete"
    with pytest.raises(InputError, match="family differs"):
        compare_records(discrete, current, tolerance=0.1)


def test_the_exact_moments_of_the_test_family_are_right():
    """The oracle the contract test leans on, against brute force over all n-sample outcomes."""
    family = BernoulliFamily([0.3, 0.6], [1.5, -2.0], offset=4.0, samples=2)
    run = BernoulliRun(family, "score", False, 0, 1)
    moments = run.exact()
    values, probs = [], []
    for a in range(4):
        for b in range(4):
            z = np.array([[(a >> d) & 1 for d in range(2)], [(b >> d) & 1 for d in range(2)]], dtype=float)
            prob = math.prod(family.p[d] if z[i, d] else 1 - family.p[d] for i in range(2) for d in range(2))
            f = family.offset + z @ family.c
            values.append((f[:, None] * (z - family.p)).mean(axis=0))
            probs.append(prob)
    values, probs = np.array(values), np.array(probs)
    mean = probs @ values
    assert np.allclose(moments.mean, mean, rtol=1e-12) and np.allclose(mean, family.exact_gradient(), rtol=1e-12)
    assert np.allclose(moments.variance, probs @ (values - mean) ** 2, rtol=1e-12)
    assert np.allclose(moments.fourth_central, probs @ (values - mean) ** 4, rtol=1e-12)
