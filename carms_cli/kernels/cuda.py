"""CUDA driver: the same :func:`~carms_cli.kernels.trial.simulate_chunk`, one chunk per GPU thread.

Imported lazily, only when the CUDA backend runs (numba-cuda is the optional extra
``carms-cli[cuda]``). Design, in the same terms as the CPU driver:

* chunks of :data:`CUDA_CHUNK` trials (fixed, whatever the launch shape); thread t of the grid
  handles chunks t, t + gridsize, … (grid-stride loop);
* every chunk writes only its own accumulator row in device memory — no floating-point atomics
  and no shared-memory reduction whose order would depend on the block size;
* the host copies the rows back and merges them in chunk order with the CPU's ``merge_chunks``,
  so the result does not depend on the launch shape at all; the trial maths and the random stream
  are the CPU's, so it equals the CPU backend up to the last-ulp differences of the GPU's
  ``log``/``erfc`` and fused multiply-adds (bitwise under the simulator).

Scratch buffers are per-row slices of device arrays (dynamic n, K and D rule out fixed-size
``cuda.local.array``). Under ``NUMBA_ENABLE_CUDASIM=1`` kernel arguments arrive wrapped; :func:`unwrap`
hands the CPU-compiled helper plain numpy arrays there and is the identity on a real GPU.
"""

from dataclasses import dataclass

import numpy as np
from numba import config, cuda

from carms_cli.kernels.trial import N_SCALARS, simulate_chunk

#: Trials per GPU thread-chunk (fixed: results never depend on the launch shape).
CUDA_CHUNK = 64


@dataclass
class LaunchConfig:
    """The one place the launch shape is set (tests patch it to check shape independence)."""

    threads_per_block: int = 128
    max_blocks: int = 4096


LAUNCH = LaunchConfig()

if config.ENABLE_CUDASIM:

    def unwrap(array):
        """The simulator's wrapped array → the numpy array the CPU-compiled helper accepts."""
        return getattr(array, "_ary", array)

else:

    @cuda.jit(device=True, inline=True)
    def unwrap(array):  # pragma: no cover - GPU only
        return array


@cuda.jit
def run_chunks_cuda(
    first_chunk,
    n_chunks,
    chunk_size,
    total_trials,
    key,
    draws_per_var,
    construction,
    copula,
    n,
    k,
    d_count,
    orders,
    thresholds,
    inv_probs,
    tuple_draws,
    mc_pmf_draws,
    probs,
    weighting,
    ratio,
    unary,
    pair,
    has_pair,
    full,
    has_full,
    exact_gradient,
    sum_p2,
    sum_pg,
    sum_g2,
    draws,
    race,
    sample,
    z,
    f,
    coef,
    acc,
    pair_counts,
    mc_ratio,
    no_g,
    no_z,
    out_count,
    out_a,
    out_a2,
    out_ac,
    out_c,
    out_c2,
    out_scalars,
):  # pragma: no cover - compiled
    """Grid-stride loop over chunk rows; row r runs trials of chunk ``first_chunk + r``."""
    row = cuda.grid(1)
    stride = cuda.gridsize(1)
    while row < n_chunks:
        start = (first_chunk + row) * chunk_size
        stop = min(start + chunk_size, total_trials)
        simulate_chunk(
            start,
            stop,
            key,
            draws_per_var,
            construction,
            copula,
            n,
            k,
            d_count,
            unwrap(orders),
            unwrap(thresholds),
            unwrap(inv_probs),
            tuple_draws,
            mc_pmf_draws,
            unwrap(probs),
            weighting,
            unwrap(ratio),
            unwrap(unary),
            unwrap(pair),
            has_pair,
            unwrap(full),
            has_full,
            unwrap(exact_gradient),
            unwrap(sum_p2),
            unwrap(sum_pg),
            unwrap(sum_g2),
            unwrap(draws)[row],
            unwrap(race)[row],
            unwrap(sample)[row],
            unwrap(z)[row],
            unwrap(f)[row],
            unwrap(coef)[row],
            unwrap(acc)[row],
            unwrap(pair_counts)[row],
            unwrap(mc_ratio)[row],
            unwrap(out_a)[row],
            unwrap(out_a2)[row],
            unwrap(out_ac)[row],
            unwrap(out_c)[row],
            unwrap(out_c2)[row],
            unwrap(out_scalars)[row],
            False,
            unwrap(no_g),
            unwrap(no_z),
        )
        unwrap(out_count)[row] = stop - start
        row += stride


@cuda.jit
def trial_estimates_cuda(
    first_trial,
    count,
    chunk_size,
    key,
    draws_per_var,
    construction,
    copula,
    n,
    k,
    d_count,
    orders,
    thresholds,
    inv_probs,
    tuple_draws,
    mc_pmf_draws,
    probs,
    weighting,
    ratio,
    unary,
    pair,
    has_pair,
    full,
    has_full,
    exact_gradient,
    sum_p2,
    sum_pg,
    sum_g2,
    draws,
    race,
    sample,
    z,
    f,
    coef,
    acc,
    pair_counts,
    mc_ratio,
    out_a,
    out_a2,
    out_ac,
    out_c,
    out_c2,
    out_scalars,
    g_out,
    z_out,
):  # pragma: no cover - compiled
    """Per-trial estimates and samples (``record=True``) of trials ``first_trial ..`` on the GPU."""
    row = cuda.grid(1)
    stride = cuda.gridsize(1)
    n_chunks = (count + chunk_size - 1) // chunk_size
    while row < n_chunks:
        offset = row * chunk_size
        stop = min(offset + chunk_size, count)
        simulate_chunk(
            first_trial + offset,
            first_trial + stop,
            key,
            draws_per_var,
            construction,
            copula,
            n,
            k,
            d_count,
            unwrap(orders),
            unwrap(thresholds),
            unwrap(inv_probs),
            tuple_draws,
            mc_pmf_draws,
            unwrap(probs),
            weighting,
            unwrap(ratio),
            unwrap(unary),
            unwrap(pair),
            has_pair,
            unwrap(full),
            has_full,
            unwrap(exact_gradient),
            unwrap(sum_p2),
            unwrap(sum_pg),
            unwrap(sum_g2),
            unwrap(draws)[row],
            unwrap(race)[row],
            unwrap(sample)[row],
            unwrap(z)[row],
            unwrap(f)[row],
            unwrap(coef)[row],
            unwrap(acc)[row],
            unwrap(pair_counts)[row],
            unwrap(mc_ratio)[row],
            unwrap(out_a)[row],
            unwrap(out_a2)[row],
            unwrap(out_ac)[row],
            unwrap(out_c)[row],
            unwrap(out_c2)[row],
            unwrap(out_scalars)[row],
            True,
            unwrap(g_out)[offset:stop],
            unwrap(z_out)[offset:stop],
        )
        row += stride


def _scratch(rows, n, k, d_count, mc_pmf_draws):
    mc_k = k if mc_pmf_draws > 0 else 1
    mc_d = d_count if mc_pmf_draws > 0 else 1
    return [
        np.zeros((rows, n)),
        np.zeros((rows, n)),
        np.zeros((rows, n), dtype=np.int64),
        np.zeros((rows, n, d_count), dtype=np.int64),
        np.zeros((rows, n)),
        np.zeros((rows, n)),
        np.zeros((rows, k)),
        np.zeros((rows, mc_k, mc_k)),
        np.zeros((rows, mc_d, mc_k, mc_k)),
    ]


def _blocks(rows):
    return max(1, min(LAUNCH.max_blocks, -(-rows // LAUNCH.threads_per_block)))


def trial_estimates(first_trial, count, args):
    """GPU twin of :func:`carms_cli.engine.trial_estimates`: (g (count, D, K), z (count, n, D))."""
    n, k, d_count, mc_pmf_draws = args[4], args[5], args[6], args[11]
    rows = max(1, -(-count // CUDA_CHUNK))
    g = np.zeros((count, d_count, k))
    z = np.zeros((count, n, d_count), dtype=np.int64)
    sinks = [
        np.zeros((rows, d_count, k)),
        np.zeros((rows, d_count, k)),
        np.zeros((rows, d_count, k)),
        np.zeros((rows, d_count)),
        np.zeros((rows, d_count)),
        np.zeros((rows, N_SCALARS)),
    ]
    to_device = cuda.to_device
    device = [to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    scratch = [to_device(a) for a in _scratch(rows, n, k, d_count, mc_pmf_draws)]
    d_g, d_z = to_device(g), to_device(z)
    trial_estimates_cuda[_blocks(rows), LAUNCH.threads_per_block](
        first_trial, count, CUDA_CHUNK, *device, *scratch, *[to_device(a) for a in sinks], d_g, d_z
    )
    cuda.synchronize()
    d_g.copy_to_host(g)
    d_z.copy_to_host(z)
    return g, z


def launch(first_chunk, n_chunks, chunk_size, total_trials, args, outputs):
    """Run ``n_chunks`` chunk rows on the GPU and copy ``outputs`` (host arrays) back in place.

    ``args`` are the kernel inputs in :func:`run_chunks_cuda` order (up to ``sum_g2``).
    """
    n, k, d_count, mc_pmf_draws = args[4], args[5], args[6], args[11]
    rows = max(n_chunks, 1)
    scratch = _scratch(rows, n, k, d_count, mc_pmf_draws)
    scratch += [np.zeros((0, 0, 0)), np.zeros((0, 0, 0), dtype=np.int64)]
    to_device = cuda.to_device
    device_inputs = [to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    device_scratch = [to_device(a) for a in scratch]
    device_outputs = [to_device(a) for a in outputs]
    run_chunks_cuda[_blocks(rows), LAUNCH.threads_per_block](
        first_chunk, n_chunks, chunk_size, total_trials, *device_inputs, *device_scratch, *device_outputs
    )
    cuda.synchronize()
    for host, device in zip(outputs, device_outputs, strict=True):
        device.copy_to_host(host)


__all__ = ["CUDA_CHUNK", "LAUNCH", "launch", "run_chunks_cuda", "trial_estimates", "trial_estimates_cuda"]
