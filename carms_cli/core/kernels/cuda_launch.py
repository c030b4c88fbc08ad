"""What the families' CUDA drivers share: the launch shape and the simulator's array unwrapping.

Imported only by the CUDA drivers, which are imported lazily when the CUDA backend runs
(numba-cuda is the optional extra ``carms-cli[cuda]``). Results never depend on the launch
shape (every chunk writes its own row, merged in chunk order on the host), which tests check by
patching :data:`LAUNCH`.
"""

from dataclasses import dataclass

from numba import config, cuda


@dataclass
class LaunchConfig:
    """The one place the launch shape is set (tests patch it to check shape independence)."""

    threads_per_block: int = 128
    max_blocks: int = 4096

    def blocks(self, rows: int) -> int:
        """Return the blocks of a launch over ``rows`` chunk rows (grid-stride loops cover the rest)."""
        return max(1, min(self.max_blocks, -(-rows // self.threads_per_block)))


#: Threads per block under the CUDA simulator: it runs one Python thread per CUDA thread of a
#: block, idle ones included, so 128 per block made small test runs start thousands of threads
#: (results do not depend on the shape; on a GPU the default stays).
SIMULATOR_THREADS_PER_BLOCK = 16

LAUNCH = LaunchConfig(threads_per_block=SIMULATOR_THREADS_PER_BLOCK) if config.ENABLE_CUDASIM else LaunchConfig()

if config.ENABLE_CUDASIM:

    def unwrap(array):
        """Unwrap the simulator's wrapped array → the numpy array the CPU-compiled helper accepts."""
        return getattr(array, "_ary", array)

else:

    @cuda.jit(device=True, inline=True)
    def unwrap(array):  # pragma: no cover - GPU only
        """Return ``array`` itself (a real GPU passes device arrays through)."""
        return array
