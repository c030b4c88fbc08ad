"""CPU driver: a pool of threads calling the compiled, GIL-free chunk kernel, one chunk at a time.

:func:`carms_cli.discrete.kernels.trial.simulate_chunk` is compiled with ``nogil=True`` and called once per
fixed-size chunk of trials, each call writing only its own accumulator row; ``threads`` workers
(the calling thread and a persistent pool) each take a contiguous run of chunks. Chunk
boundaries depend only on the problem, never on the thread count, and the host merges rows in
chunk order, so results are bitwise identical for any ``--threads``.

Why threads around a compiled kernel rather than a numba ``prange``: the chunk kernel is large,
and a parallel wrapper makes numba re-optimise all of it inside the generated gufunc, which
doubled the first compile (cold start ≈ 12 s against ≈ 5 s). A call from Python costs 10–15 µs
(numba types the two buffer bundles, named tuples, in Python), against a quarter to half a
millisecond of work per chunk.

The kernel is compiled in three specialisations, chosen by which scratch is ``None``
(numba removes the branches that would use a ``None`` at compile time): CARMS-I and the
independent samplers (the common case, and the only one ``carms variance``'s default run
needs), the other copula constructions (CARMS-G, stick-breaking, antithetic pairs, Monte Carlo
pmf), and the peers (ARSM, UNORD, Gumbel-softmax). The first is further compiled per sample
count n up to :data:`~carms_cli.discrete.kernels.trial.FIXED_SAMPLES_MAX` and for D = 1 (``fixed_samples``,
``fixed_dims``), so a run at a new small n, or a first run with several variables, compiles
once more (≈ 3–4 s, then cached).
"""

import numpy as np

from carms_cli.core.jit import cached_kernel
from carms_cli.core.pool import private, run_rows
from carms_cli.discrete.kernels.args import Outputs, Scratch
from carms_cli.discrete.kernels.trial import FIXED_SAMPLES_MAX, INVERSE, scratch_sizes, simulate_chunk


def _scratch(args, n_tuple_constructions: bool):
    """Allocate one thread's buffers: ``(Scratch, sample, dense, work, iwork)`` of :func:`simulate_chunk`.

    ``None`` stands for what the specialisation leaves out (see the module docstring).
    """
    n, k, d_count = args.samples, args.categories, args.dims
    sizes = scratch_sizes(args.construction, n, k, d_count)
    mc = args.mc_pmf_draws > 0
    mc_k, mc_d = (k, d_count) if mc and sizes is None else (1, 1)
    scratch = Scratch(
        draws=private(n),
        race=private(n),
        z=private((n, d_count), np.int64),
        f=private(n),
        coef=private(n),
        acc=private(k),
        pair_counts=private((mc_k, mc_k)),
        mc_ratio=private((mc_d, mc_k, mc_k)),
    )
    if sizes is not None:  # peers: dense, work and iwork; no sample buffer
        (rows, cols), floats, ints = sizes
        return scratch, None, private((rows, cols)), private(floats), private(ints, np.int64)
    sample = private(n, np.int64) if n_tuple_constructions else None
    return scratch, sample, None, None, None


def run_chunks(first_trial, n_chunks, chunk_size, last_trial, args, out, record, g_out, z_out, threads):
    """Run chunk rows ``0 .. n_chunks − 1`` on ``threads`` threads.

    Row r runs trials ``first_trial + r·chunk_size`` up to the next chunk or ``last_trial`` into
    row r of the zeroed accumulators ``out`` = (count, Σa, Σa², ΣaC, ΣC, ΣC², scalars); ``args``
    are the kernel inputs (:class:`~carms_cli.discrete.kernels.args.KernelArgs`). With ``record``, each trial's
    estimate and samples also go to ``g_out[t − first_trial]`` and ``z_out[t − first_trial]``.
    """
    out_count, out_a, out_a2, out_ac, out_c, out_c2, out_scalars = out
    generic = args.construction != INVERSE
    # CARMS-I and independent samples: a kernel compiled for this exact small n, and for D = 1
    fixed_samples = (0,) * args.samples if not generic and args.samples <= FIXED_SAMPLES_MAX else None
    fixed_dims = (0,) if not generic and args.dims == 1 else None

    def work(first_row, last_row):
        # one set of buffers per thread: the kernel leaves no state in them between chunks (as on
        # the GPU, where a thread reuses its row of scratch for every chunk it runs)
        scratch, sample, dense, peer_work, iwork = _scratch(args, generic)
        for row in range(first_row, last_row):
            start = first_trial + row * chunk_size
            stop = min(start + chunk_size, last_trial)
            low, high = (start - first_trial, stop - first_trial) if record else (0, 0)
            outputs = Outputs(
                a=out_a[row],
                a2=out_a2[row],
                ac=out_ac[row],
                c=out_c[row],
                c2=out_c2[row],
                scalars=out_scalars[row],
                g=g_out[low:high],
                z=z_out[low:high],
            )
            simulate_chunk(
                start, stop, *args, scratch, sample, dense, peer_work, iwork, outputs, record, fixed_samples, fixed_dims
            )
            out_count[row] = stop - start

    run_rows(n_chunks, threads, work)


@cached_kernel()
def chunk_moments(probs, out_count, out_a, out_a2, out_ac, out_c, out_c2, mean, m2):  # pragma: no cover - compiled
    """Each chunk row's mean and centred sum of squares of ``g = a − p·C`` (the engine's contract).

    A chunk of m trials holds ``Σa``, ``Σa²``, ``ΣaC`` per coordinate and ``ΣC``, ``ΣC²`` per
    variable; then ``S1 = Σa − pΣC``, ``S2 = Σa² − 2pΣaC + p²ΣC²``, the chunk mean is ``S1/m``
    and ``M2 = S2 − S1²/m`` (clamped at 0 against rounding). Empty rows are left at zero.
    """
    d_count, k = probs.shape
    for row in range(out_count.shape[0]):
        m = out_count[row]
        if m == 0:
            continue
        for d in range(d_count):
            c1 = out_c[row, d]
            c2 = out_c2[row, d]
            for c in range(k):
                p = probs[d, c]
                s1 = out_a[row, d, c] - p * c1
                s2 = out_a2[row, d, c] - 2.0 * p * out_ac[row, d, c] + p * p * c2
                mean_b = s1 / m
                mean[row, d, c] = mean_b
                m2[row, d, c] = max(s2 - s1 * mean_b, 0.0)
