"""The per-example model objective f_b that the estimators evaluate, on samples and on the simplex.

On samples z (S, B, D) it is :func:`carms_cli.models.network.forward`'s
``f = log p(x|z) + log p(z) − log q(z|x)`` (structured prediction: ``log p(x_lower|z)``); the last
such pass is kept for the pathwise decoder and prior gradient.

The Gumbel relaxations need f on the simplex. As the discrete family extends its tables (unary
terms linearly), the extension here is::

    f(y) = log p(x | code = y) + Σ_d y_dᵀ (log softmax(π_d) − log q_d)

with the decoder fed the dense code ``2y − 1`` (binary: ``2·y_{d,1} − 1``) and the log-prior and
log-q tables held fixed (as f is held fixed in ``∇_l E_q[f]``). It equals f at every one-hot y.
"""

import numpy as np

from carms_cli.models import network


class ModelObjective:
    """f_b of a minibatch x (B, P) at frozen parameters and encoder logits (B, D, C)."""

    def __init__(
        self,
        arch: network.Architecture,
        params,
        x: np.ndarray,
        train_mean: np.ndarray,
        logits: np.ndarray,
        keep: bool = True,
    ):
        self.arch = arch
        self.keep = keep  # False: only f is needed (no backward pass follows; see network.forward)
        self.params = params
        self.x = x
        self.train_mean = train_mean
        self.logits = logits
        #: the forward pass of the last call on samples (None before the first)
        self.last: network.Forward | None = None

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Return f (S, B) at samples z (S, B, D); keeps the pass in :attr:`last`."""
        self.last = network.forward(
            self.arch, self.params, self.x, z, self.train_mean, logits=self.logits, keep=self.keep
        )
        return self.last.f

    def relaxed(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return f (S, B) at points y (S, B, D, C) of the simplex and ``∇_y f`` (S, B, D, C) (module docstring)."""
        latent = self.arch.latent
        s, b = y.shape[:2]
        codes = y[..., 1] if latent.binary else y.reshape(s, b, latent.dims * latent.categories)
        f, grad_codes = network.relaxed_log_likelihood(self.arch, self.params, self.x, codes)
        grad = np.zeros_like(y)
        if latent.binary:
            grad[..., 1] = grad_codes
        else:
            grad += grad_codes.reshape(y.shape)
        if not self.arch.structured:
            table = network.log_softmax(network.prior_logits(latent, self.params)) - network.log_softmax(self.logits)
            f = f + (y * table).sum(axis=(-2, -1))
            grad = grad + table
        return f, grad
