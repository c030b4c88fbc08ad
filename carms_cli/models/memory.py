"""How much memory a ``carms vae`` run needs, estimated before anything is allocated.

The estimate counts what grows with the request: the parameters with their gradients, Adam's two
moments and the checkpoint's copy (6 copies of the P parameters); the activations of one pass —
every layer's width, forward and backward with temporaries (4 copies) — for the largest number of
rows a pass handles (minibatch × samples, evaluation examples × k, the variance minibatch ×
samples); the R replicate gradients the variance keeps (2 copies, R × batch × logit width); and
the encoder-parameter gradients of a chunk of replicates (3 copies of at most
:data:`~carms_cli.models.variance.CHUNK_FLOATS`, or of one replicate's encoder parameters).
Measured runs stay below it; it exists so that ``--batch 2000000`` or ``--latent 100000x1000`` is
refused with one line (:func:`carms_cli.core.budget.check_size`) instead of ending in a MemoryError
or the kernel's OOM killer.
"""

from carms_cli.models.network import Architecture

BYTES = 8
#: Floats of encoder-parameter gradients held at once (as :data:`carms_cli.models.variance.CHUNK_FLOATS`).
CHUNK_FLOATS = 1 << 22


def _chunk(arch: Architecture) -> int:
    encoder = sum(a * b + b for a, b in zip(arch.encoder_sizes[:-1], arch.encoder_sizes[1:], strict=False))
    return 3 * max(CHUNK_FLOATS, encoder)


def parameter_count(arch: Architecture) -> int:
    """P: the weights and biases of the encoder and decoder, and the prior's logits."""
    count = arch.latent.logit_width
    for sizes in (arch.encoder_sizes, arch.decoder_sizes):
        count += sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    return count


def _row_width(arch: Architecture, samples: int) -> int:
    return sum(arch.encoder_sizes) + sum(arch.decoder_sizes) + arch.latent.logit_width * (samples + 2)


def train_bytes(
    arch: Architecture, batch: int, samples: int, eval_rows: int, replicates: int, variance_batch: int
) -> int:
    """Bytes of ``carms vae train`` at minibatch ``batch`` (``eval_rows`` = evaluation examples × k)."""
    rows = max(batch * samples, eval_rows, variance_batch * samples)
    replicas = 2 * replicates * variance_batch * arch.latent.logit_width
    return BYTES * (6 * parameter_count(arch) + 4 * _row_width(arch, samples) * rows + replicas + _chunk(arch))


def variance_bytes(arch: Architecture, batch: int, samples: int, replicates: int) -> int:
    """Bytes of ``carms vae variance`` at frozen-minibatch size ``batch`` and the largest n ``samples``."""
    replicas = 2 * replicates * batch * arch.latent.logit_width
    return BYTES * (
        6 * parameter_count(arch) + 4 * _row_width(arch, samples) * batch * samples + replicas + _chunk(arch)
    )
