"""Throughput of carms-cli's numba kernel against a vectorised NumPy CARMS-I, side by side.

The NumPy version is the baseline named in the README: the same estimator (CARMS-I, Dirichlet
copula, reference order set, exact ratios from the same plan), vectorised over a batch of
trials with NumPy's own generator. Both are timed in this one process, after a warm-up, and
both means are checked against the exact gradient.

Usage: python examples/numpy_baseline.py [--trials N] [--categories K] [--samples N]
"""

import argparse
import time

import numpy as np

from carms_cli.core.engine import set_threads
from carms_cli.discrete.plan import build_plan
from carms_cli.discrete.problem import build_problem
from carms_cli.discrete.registry import ESTIMATORS
from carms_cli.discrete.source import run_plan


def numpy_carms(plan, trials: int, batch: int = 100_000, seed: int = 0):
    """Mean and variance of CARMS-I estimates, vectorised over ``batch`` trials at a time."""
    rng = np.random.default_rng(seed)
    n, k = plan.samples, plan.categories
    orders, thresholds, ratio = plan.orders[0], plan.thresholds[0], plan.ratio[0]
    p, values = plan.probs[0], plan.unary[0]
    total = np.zeros(k)
    total_sq = np.zeros(k)
    done = 0
    while done < trials:
        b = min(batch, trials - done)
        e = -np.log(rng.random((b, n)))
        latent = 1.0 - e / e.sum(axis=1, keepdims=True)
        o = rng.integers(orders.shape[0], size=b)
        position = (latent[:, :, None] > thresholds[o][:, None, :]).sum(axis=2)
        z = np.take_along_axis(orders[o], position, axis=1)  # (b, n)
        f = values[z]
        w = ratio[z[:, :, None], z[:, None, :]]  # 0 on ties
        coef = (w * (f[:, :, None] - f[:, None, :])).sum(axis=2) / (n * (n - 1))
        g = -coef.sum(axis=1, keepdims=True) * p
        np.add.at(g, (np.repeat(np.arange(b), n), z.ravel()), coef.ravel())
        total += g.sum(axis=0)
        total_sq += (g**2).sum(axis=0)
        done += b
    mean = total / trials
    return mean, total_sq / trials - mean**2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2_000_000)
    parser.add_argument("--categories", type=int, default=10)
    parser.add_argument("--samples", type=int, default=4)
    args = parser.parse_args()
    problem = build_problem(categories=args.categories, samples=args.samples, trials=args.trials, seed=0)
    plan = build_plan(problem, ESTIMATORS["carms"])
    threads = set_threads(None)
    exact = problem.exact_gradient()[0]

    numpy_carms(plan, 1000)  # warm-up
    started = time.perf_counter()
    np_mean, np_var = numpy_carms(plan, args.trials)
    numpy_rate = args.trials / (time.perf_counter() - started)

    run_plan(plan, 1000, threads)  # compile or load the kernel cache
    raw = run_plan(plan, args.trials, threads)
    numba_rate = raw.trials / raw.seconds
    nb_var = raw.m2[0] / (raw.trials - 1)

    for label, mean, var in (("numpy", np_mean, np_var), ("numba", raw.mean[0], nb_var)):
        z = np.abs(mean - exact) / np.sqrt(np.maximum(var, 1e-300) / args.trials)
        print(f"{label}: max |z| against the exact gradient = {z.max():.2f}, total variance = {var.sum():.4g}")
    print(f"K={args.categories} n={args.samples} trials={args.trials:,} threads={threads}")
    print(f"numpy (1 thread, vectorised): {numpy_rate / 1e6:6.2f} M trials/s")
    print(f"numba ({threads} threads):            {numba_rate / 1e6:6.2f} M trials/s")
    print(f"speed-up: {numba_rate / numpy_rate:.1f}x")


if __name__ == "__main__":
    main()
