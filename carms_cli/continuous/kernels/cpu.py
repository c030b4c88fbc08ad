"""CPU driver of the continuous family: the thread pool of :mod:`carms_cli.core.pool` around the chunk kernel."""

from carms_cli.continuous.kernels.args import SCRATCH, KernelArgs, scratch_shapes
from carms_cli.continuous.kernels.chunks import kernel_for
from carms_cli.core.pool import private, run_rows


def run_chunks(first_trial, n_chunks, chunk_size, last_trial, args: KernelArgs, out, threads):
    """Run chunk rows ``0 .. n_chunks − 1`` on ``threads`` threads into the zeroed ``out``.

    ``out`` = (count, Σ(g − r), Σ(g − r)², scalars); row r runs trials ``first_trial + r·chunk_size``
    up to the next chunk or ``last_trial``.
    """
    out_count, out_s1, out_s2, out_scalars = out
    shapes = scratch_shapes(args.samples, args.dims, out_s1.shape[1])
    kernel = kernel_for(args.dist, args.estimator)

    def work(first_row, last_row):
        scratch = [private(shapes[name]) for name in SCRATCH]  # one set per thread
        for row in range(first_row, last_row):
            start = first_trial + row * chunk_size
            stop = min(start + chunk_size, last_trial)
            stop = max(stop, start)  # a row past the last trial stays empty (and compiles the kernel)
            kernel(start, stop, *args, *scratch, out_s1[row], out_s2[row], out_scalars[row])
            out_count[row] = stop - start

    run_rows(n_chunks, threads, work)
