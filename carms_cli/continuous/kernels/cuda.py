"""CUDA driver of the continuous family: the CPU's chunk kernels, one chunk per GPU thread.

Imported lazily, only when the CUDA backend runs (numba-cuda is the optional extra
``carms-cli[cuda]``). As in the discrete driver: chunks of
:data:`~carms_cli.continuous.source.CUDA_CHUNK` trials whatever the launch shape, thread t runs
chunks t, t + gridsize, … (grid-stride loop), every chunk writes only its own accumulator row,
and the host merges the rows in chunk order — so the result does not depend on the launch
shape, and the trial maths and random stream are the CPU's (equal up to the GPU's last-ulp
``log``/``cos`` and fused multiply-adds; bitwise under the simulator). One GPU kernel wraps each
of the chunk kernels (:func:`~carms_cli.continuous.kernels.chunks.kernel_for`).
"""

import numpy as np
from numba import cuda

from carms_cli.continuous.kernels.args import SCRATCH, KernelArgs, scratch_shapes
from carms_cli.continuous.kernels.chunks import kernel_for
from carms_cli.core.kernels.cuda_launch import LAUNCH, unwrap


def _gpu_kernel(chunk):
    """Wrap one chunk kernel in a grid-stride GPU kernel (row r runs the CPU driver's row r)."""

    # fmt: off
    @cuda.jit
    def run_chunks_cuda(
        first_trial, n_chunks, chunk_size, last_trial,
        key, uniforms_per_trial, dist, estimator, samples, dims, param_a, param_b, parameters,
        objective, objective_params, shift, evaluations, taylor_f0, taylor_g0, taylor_h, taylor_gradient_mean,
        baseline, score_offset, shape_table, x, eps, point, slope, g, term_a, term_c, fresh_a, fresh_c, beta, f_values,
        out_count, out_s1, out_s2, out_scalars,
    ):  # pragma: no cover - compiled
        row = cuda.grid(1)
        stride = cuda.gridsize(1)
        while row < n_chunks:
            start = first_trial + row * chunk_size
            stop = max(min(start + chunk_size, last_trial), start)
            chunk(
                start, stop, key, uniforms_per_trial, dist, estimator, samples, dims,
                unwrap(param_a), unwrap(param_b), unwrap(parameters), objective, unwrap(objective_params),
                unwrap(shift), evaluations, taylor_f0, unwrap(taylor_g0), unwrap(taylor_h),
                unwrap(taylor_gradient_mean), unwrap(baseline), unwrap(score_offset), unwrap(shape_table),
                unwrap(x)[row], unwrap(eps)[row], unwrap(point)[row], unwrap(slope)[row], unwrap(g)[row],
                unwrap(term_a)[row], unwrap(term_c)[row], unwrap(fresh_a)[row], unwrap(fresh_c)[row],
                unwrap(beta)[row], unwrap(f_values)[row],
                unwrap(out_s1)[row], unwrap(out_s2)[row], unwrap(out_scalars)[row],
            )
            unwrap(out_count)[row] = stop - start
            row += stride
    # fmt: on

    return run_chunks_cuda


_GPU_KERNELS: dict = {}


def gpu_kernel(dist: int, estimator: int):
    """Return the GPU kernel that runs ``estimator`` on ``dist`` (built once per chunk kernel)."""
    chunk = kernel_for(dist, estimator)
    if chunk not in _GPU_KERNELS:
        _GPU_KERNELS[chunk] = _gpu_kernel(chunk)
    return _GPU_KERNELS[chunk]


def launch(first_trial, n_chunks, chunk_size, last_trial, args: KernelArgs, outputs):
    """Run ``n_chunks`` chunk rows on the GPU and copy ``outputs`` = (count, Σ(g − r), Σ(g − r)², scalars) back."""
    rows = max(n_chunks, 1)
    size = outputs[1].shape[1]
    shapes = scratch_shapes(args.samples, args.dims, size)
    to_device = cuda.to_device
    inputs = [to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    scratch = [to_device(np.zeros((rows, *shapes[name]))) for name in SCRATCH]
    device_outputs = [to_device(a) for a in outputs]
    blocks = LAUNCH.blocks(rows)
    gpu_kernel(args.dist, args.estimator)[blocks, LAUNCH.threads_per_block](
        first_trial, n_chunks, chunk_size, last_trial, *inputs, *scratch, *device_outputs
    )
    cuda.synchronize()
    for host, device in zip(outputs, device_outputs, strict=True):
        device.copy_to_host(host)
