"""CUDA driver: the same :func:`~carms_cli.discrete.kernels.trial.simulate_chunk`, one chunk per GPU thread.

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

import numpy as np
from numba import cuda

from carms_cli.core.kernels.cuda_launch import LAUNCH, unwrap
from carms_cli.discrete.kernels.trial import scratch_sizes, simulate_chunk

#: Trials per GPU thread-chunk (fixed: results never depend on the launch shape). Measured on an
#: H200 at 64·10⁶ trials: the kernel's time is the same at 64, 256 and 1024, but 64-trial chunks
#: made a million accumulator rows to copy back and merge (0.1 s of copies against 0.02 s of
#: kernel); 256 cuts that fourfold and still gives every multiprocessor thousands of threads.
CUDA_CHUNK = 256




# fmt: off
@cuda.jit
def run_chunks_cuda(
    first_trial, n_chunks, chunk_size, last_trial,
    key, draws_per_var, construction, copula, samples, categories, dims,
    orders, thresholds, guide, prefix, pairs, inv_probs, tuple_draws, mc_pmf_draws, probs, log_probs, temperature,
    weighting, ratio, unary, pair, has_pair, full, has_full,
    exact_gradient, sum_p2, sum_pg, sum_g2,
    draws, race, sample, z, f, coef, acc, pair_counts, mc_ratio, dense, work, iwork,
    out_count, out_a, out_a2, out_ac, out_c, out_c2, out_scalars,
    record, g_out, z_out,
):  # pragma: no cover - compiled
    """Grid-stride loop over chunk rows; row r runs the trials of the CPU driver's row r.

    Those are the trials from ``first_trial + r·chunk_size`` up to the next chunk or ``last_trial``.
    """
    row = cuda.grid(1)
    stride = cuda.gridsize(1)
    while row < n_chunks:
        start = first_trial + row * chunk_size
        stop = min(start + chunk_size, last_trial)
        low = start - first_trial if record else 0
        high = stop - first_trial if record else 0
        simulate_chunk(
            start, stop, key, draws_per_var, construction, copula, samples, categories, dims,
            unwrap(orders), unwrap(thresholds), unwrap(guide),
            unwrap(prefix), unwrap(pairs), unwrap(inv_probs), tuple_draws, mc_pmf_draws,
            unwrap(probs), unwrap(log_probs), temperature,
            weighting, unwrap(ratio), unwrap(unary), unwrap(pair), has_pair, unwrap(full), has_full,
            unwrap(exact_gradient), unwrap(sum_p2), unwrap(sum_pg), unwrap(sum_g2),
            unwrap(draws)[row], unwrap(race)[row], unwrap(sample)[row], unwrap(z)[row], unwrap(f)[row],
            unwrap(coef)[row], unwrap(acc)[row], unwrap(pair_counts)[row], unwrap(mc_ratio)[row],
            unwrap(dense)[row], unwrap(work)[row], unwrap(iwork)[row],
            unwrap(out_a)[row], unwrap(out_a2)[row], unwrap(out_ac)[row], unwrap(out_c)[row],
            unwrap(out_c2)[row], unwrap(out_scalars)[row],
            record, unwrap(g_out)[low:high], unwrap(z_out)[low:high], None, None,
        )
        unwrap(out_count)[row] = stop - start
        row += stride
# fmt: on


def _scratch(rows, construction, n, k, d_count, mc_pmf_draws):
    """Per-row scratch buffers (dynamic n, K and D rule out fixed-size local arrays)."""
    mc_k = k if mc_pmf_draws > 0 else 1
    mc_d = d_count if mc_pmf_draws > 0 else 1
    # the GPU kernel is compiled once with every branch: it always gets the peer scratch
    dense_shape, work_size, iwork_size = scratch_sizes(construction, n, k, d_count) or ((1, 1), 1, 1)
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
        np.zeros((rows, *dense_shape)),
        np.zeros((rows, work_size)),
        np.zeros((rows, iwork_size), dtype=np.int64),
    ]


def launch(first_trial, n_chunks, chunk_size, last_trial, args, outputs, record=False, g_out=None, z_out=None):
    """Run ``n_chunks`` chunk rows on the GPU and copy ``outputs`` back into the host arrays.

    With ``record``, the per-trial ``g_out``/``z_out`` are copied back too. ``args`` is the engine's
    ``KernelArgs`` (the kernel inputs in :func:`run_chunks_cuda` order, ``key`` to ``sum_g2``).
    """
    construction, n, k, d_count = args.construction, args.samples, args.categories, args.dims
    mc_pmf_draws = args.mc_pmf_draws
    rows = max(n_chunks, 1)
    if g_out is None:
        g_out, z_out = np.zeros((0, 0, 0)), np.zeros((0, 0, 0), dtype=np.int64)
    to_device = cuda.to_device
    device_inputs = [to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    device_scratch = [to_device(a) for a in _scratch(rows, construction, n, k, d_count, mc_pmf_draws)]
    device_outputs = [to_device(a) for a in outputs]
    device_g, device_z = to_device(g_out), to_device(z_out)
    blocks = LAUNCH.blocks(rows)
    run_chunks_cuda[blocks, LAUNCH.threads_per_block](
        first_trial,
        n_chunks,
        chunk_size,
        last_trial,
        *device_inputs,
        *device_scratch,
        *device_outputs,
        record,
        device_g,
        device_z,
    )
    cuda.synchronize()
    for host, device in zip(outputs, device_outputs, strict=True):
        device.copy_to_host(host)
    if record:
        device_g.copy_to_host(g_out)
        device_z.copy_to_host(z_out)


__all__ = ["CUDA_CHUNK", "LAUNCH", "launch", "run_chunks_cuda"]
