"""The chunk kernel that runs each continuous estimator (one signature, :class:`~.args.KernelArgs`' order).

Every member of :class:`~carms_cli.continuous.codes.EstimatorCode` is listed; the CPU and CUDA
drivers look their kernel up here.
"""

from carms_cli.continuous.codes import DistributionCode, EstimatorCode
from carms_cli.continuous.kernels.implicit_trial import implicit_chunk
from carms_cli.continuous.kernels.simplex_trial import simplex_chunk
from carms_cli.continuous.kernels.trial import delta_chunk, loo_chunk, mvd_chunk, plain_chunk

KERNELS = {
    EstimatorCode.PATHWISE: plain_chunk,
    EstimatorCode.SCORE: plain_chunk,
    EstimatorCode.SCORE_BASELINE: plain_chunk,
    EstimatorCode.SCORE_LOO: loo_chunk,
    EstimatorCode.SCORE_DELTA: delta_chunk,
    EstimatorCode.PATHWISE_DELTA: delta_chunk,
    EstimatorCode.MVD: mvd_chunk,
    EstimatorCode.MVD_UNCOUPLED: mvd_chunk,
    EstimatorCode.IMPLICIT: implicit_chunk,
    EstimatorCode.IMPLICIT_GAMMA_RATIO: simplex_chunk,
}
#: Distributions whose every estimator runs in one kernel of their own.
OWN_KERNEL = {DistributionCode.BETA: simplex_chunk, DistributionCode.DIRICHLET: simplex_chunk}


def kernel_for(dist: int, estimator: int):
    """Return the chunk kernel that runs ``estimator`` on ``dist``."""
    return OWN_KERNEL.get(dist, KERNELS[estimator])
