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
``cuda.local.array``); the kernel takes the buffers in the bundles of
:mod:`carms_cli.discrete.kernels.args` and hands each chunk a bundle of its own rows. Under
``NUMBA_ENABLE_CUDASIM=1`` kernel arguments arrive wrapped; :func:`unwrap` hands the CPU-compiled
helper plain numpy arrays there and is the identity on a real GPU.
"""

import numpy as np
from numba import cuda

from carms_cli.core.kernels.cuda_launch import LAUNCH, unwrap
from carms_cli.discrete.kernels.args import Outputs, Scratch
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
    scratch, sample, dense, work, iwork, out_count, out, record,
):  # pragma: no cover - compiled
    """Grid-stride loop over chunk rows; row r runs the trials of the CPU driver's row r.

    Those are the trials from ``first_trial + r·chunk_size`` up to the next chunk or ``last_trial``.
    ``scratch`` (:class:`Scratch`), ``sample``, ``dense``, ``work`` and ``iwork`` hold one row per
    chunk row; ``out`` (:class:`Outputs`) one accumulator row per chunk row and, for ``g`` and
    ``z``, one row per trial. Each row hands ``simulate_chunk`` its own row of every buffer.
    """
    row = cuda.grid(1)
    stride = cuda.gridsize(1)
    while row < n_chunks:
        start = first_trial + row * chunk_size
        stop = min(start + chunk_size, last_trial)
        low = start - first_trial if record else 0
        high = stop - first_trial if record else 0
        scratch_row = Scratch(
            unwrap(scratch.draws)[row], unwrap(scratch.race)[row], unwrap(scratch.z)[row], unwrap(scratch.f)[row],
            unwrap(scratch.coef)[row], unwrap(scratch.acc)[row], unwrap(scratch.pair_counts)[row],
            unwrap(scratch.mc_ratio)[row],
        )
        out_row = Outputs(
            unwrap(out.a)[row], unwrap(out.a2)[row], unwrap(out.ac)[row], unwrap(out.c)[row], unwrap(out.c2)[row],
            unwrap(out.scalars)[row], unwrap(out.g)[low:high], unwrap(out.z)[low:high],
        )
        simulate_chunk(
            start, stop, key, draws_per_var, construction, copula, samples, categories, dims,
            unwrap(orders), unwrap(thresholds), unwrap(guide),
            unwrap(prefix), unwrap(pairs), unwrap(inv_probs), tuple_draws, mc_pmf_draws,
            unwrap(probs), unwrap(log_probs), temperature,
            weighting, unwrap(ratio), unwrap(unary), unwrap(pair), has_pair, unwrap(full), has_full,
            unwrap(exact_gradient), unwrap(sum_p2), unwrap(sum_pg), unwrap(sum_g2),
            scratch_row, unwrap(sample)[row], unwrap(dense)[row], unwrap(work)[row], unwrap(iwork)[row],
            out_row, record, None, None,
        )
        unwrap(out_count)[row] = stop - start
        row += stride
# fmt: on


def _scratch(rows, construction, n, k, d_count, mc_pmf_draws):
    """Per-row buffers ``(Scratch, sample, dense, work, iwork)``: dynamic n, K and D rule out local arrays."""
    mc_k = k if mc_pmf_draws > 0 else 1
    mc_d = d_count if mc_pmf_draws > 0 else 1
    # the GPU kernel is compiled once with every branch: it always gets the peer scratch
    dense_shape, work_size, iwork_size = scratch_sizes(construction, n, k, d_count) or ((1, 1), 1, 1)
    scratch = Scratch(
        draws=np.zeros((rows, n)),
        race=np.zeros((rows, n)),
        z=np.zeros((rows, n, d_count), dtype=np.int64),
        f=np.zeros((rows, n)),
        coef=np.zeros((rows, n)),
        acc=np.zeros((rows, k)),
        pair_counts=np.zeros((rows, mc_k, mc_k)),
        mc_ratio=np.zeros((rows, mc_d, mc_k, mc_k)),
    )
    sample = np.zeros((rows, n), dtype=np.int64)
    peers = np.zeros((rows, *dense_shape)), np.zeros((rows, work_size)), np.zeros((rows, iwork_size), np.int64)
    return scratch, sample, *peers


def launch(first_trial, n_chunks, chunk_size, last_trial, args, outputs, record=False, g_out=None, z_out=None):
    """Run ``n_chunks`` chunk rows on the GPU and copy ``outputs`` back into the host arrays.

    With ``record``, the per-trial ``g_out``/``z_out`` are copied back too. ``args`` is the engine's
    ``KernelArgs`` (the kernel inputs in :func:`run_chunks_cuda` order, ``key`` to ``sum_g2``); the
    buffers go to the kernel in the bundles of :mod:`carms_cli.discrete.kernels.args`, whose
    namedtuples numba-cuda passes as kernel arguments field by field.
    """
    construction, n, k, d_count = args.construction, args.samples, args.categories, args.dims
    mc_pmf_draws = args.mc_pmf_draws
    rows = max(n_chunks, 1)
    if g_out is None:
        g_out, z_out = np.zeros((0, 0, 0)), np.zeros((0, 0, 0), dtype=np.int64)
    to_device = cuda.to_device
    device_inputs = [to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    scratch, sample, dense, work, iwork = _scratch(rows, construction, n, k, d_count, mc_pmf_draws)
    device_scratch = Scratch(*(to_device(a) for a in scratch))
    out_count, out_a, out_a2, out_ac, out_c, out_c2, out_scalars = outputs
    host_out = Outputs(a=out_a, a2=out_a2, ac=out_ac, c=out_c, c2=out_c2, scalars=out_scalars, g=g_out, z=z_out)
    device_out = Outputs(*(to_device(a) for a in host_out))
    device_count = to_device(out_count)
    blocks = LAUNCH.blocks(rows)
    run_chunks_cuda[blocks, LAUNCH.threads_per_block](
        first_trial,
        n_chunks,
        chunk_size,
        last_trial,
        *device_inputs,
        device_scratch,
        to_device(sample),
        to_device(dense),
        to_device(work),
        to_device(iwork),
        device_count,
        device_out,
        record,
    )
    cuda.synchronize()
    device_count.copy_to_host(out_count)
    for field, host, device in zip(Outputs._fields, host_out, device_out, strict=True):
        if record or field not in ("g", "z"):
            device.copy_to_host(host)


__all__ = ["CUDA_CHUNK", "LAUNCH", "launch", "run_chunks_cuda"]
