"""Discrete-latent VAEs in NumPy: forward ELBO per example and a hand-written backward pass.

The papers' models (CARMS: D categorical variables with C categories; ARM/ARMS/DisARM: M binary
ones), linear or with two hidden LeakyReLU layers, in float64:

- encoder: logits ``l = enc(x − x̄_train)``, ``q(z_d = c | x) = softmax(l_d)_c`` (binary: the
  category logits are ``(0, φ_d)``, so ``q(z_d = 1) = sigmoid(φ_d)``);
- decoder: ``η = dec(2·code(z) − 1)`` with ``code`` the flattened one-hot of z (binary: z itself)
  and ``log p(x | z) = Σ_j x_j η_j − softplus(η_j)`` over the pixels;
- prior: learnable logits π, ``log p(z) = Σ_d log softmax(π_d)_{z_d}``;
- ``f(z) = log p(x | z) + log p(z) − log q(z | x)``, whose expectation under q is the ELBO;
- structured output prediction (``Architecture.structured``): the encoder sees the first P/2
  pixels, the decoder models the others, ``f(z) = log p(x_lower | z)`` (no prior, no entropy).

:func:`backward` returns the gradient of the surrogate
``S(θ) = (1/B) Σ_b [(1/n) Σ_i f(z_ib) + ⟨G_b, l_b(θ_enc)⟩]``: the pathwise gradient of the
decoder and prior on the drawn samples, and the encoder gradient through a given logit gradient
G (an estimator's estimate of ``∇_l E_q[f]``; the direct term ``E_q[∂f/∂l] = −E_q[∇_l log q] = 0``
is left out, as in the papers).
"""

from dataclasses import dataclass

import numpy as np

#: LeakyReLU slope of the nonlinear models (the CARMS and DisARM reference code).
LEAKY_SLOPE = 0.3
#: Hidden width of the nonlinear models (both papers).
HIDDEN = 200
#: The decoder's output bias starts at ``logit(clip(x̄_train, ε, 1 − ε))`` (the reference code).
BIAS_CLIP = 1e-3


@dataclass(frozen=True)
class Latent:
    """D variables with C categories each; ``binary``: M = D Bernoulli variables (C = 2)."""

    dims: int
    categories: int
    binary: bool = False

    @property
    def logit_width(self) -> int:
        """Encoder outputs per example: D·C (categorical) or M (binary)."""
        return self.dims if self.binary else self.dims * self.categories

    @property
    def code_width(self) -> int:
        """Decoder inputs per example: D·C one-hot entries (categorical) or M bits (binary)."""
        return self.logit_width

    def describe(self) -> str:
        """``20×10 categorical`` or ``200 binary``."""
        return f"{self.dims} binary" if self.binary else f"{self.dims}×{self.categories} categorical"


@dataclass(frozen=True)
class Architecture:
    """Layer widths: encoder P → … → logit width, decoder code width → … → P."""

    name: str
    pixels: int
    latent: Latent
    hidden: tuple[int, ...]
    #: structured output prediction: the encoder sees the first ``pixels // 2`` pixels, the decoder
    #: predicts the others, ``f = log p(x_lower | z)`` (no prior, no entropy term)
    structured: bool = False

    @property
    def inputs(self) -> int:
        """Pixels the encoder sees: all, or the upper half when structured."""
        return self.pixels // 2 if self.structured else self.pixels

    @property
    def outputs(self) -> slice:
        """The pixels the decoder models: all, or the lower half when structured."""
        return slice(self.inputs, self.pixels) if self.structured else slice(0, self.pixels)

    @property
    def encoder_sizes(self) -> list[int]:
        """Widths of the encoder's layers, input first."""
        return [self.inputs, *self.hidden, self.latent.logit_width]

    @property
    def decoder_sizes(self) -> list[int]:
        """Widths of the decoder's layers, input first."""
        return [self.latent.code_width, *self.hidden, self.pixels - self.outputs.start]


def architecture(
    name: str, pixels: int, latent: Latent, hidden: int = HIDDEN, structured: bool = False
) -> Architecture:
    """``linear`` (no hidden layer) or ``mlp`` (two hidden layers of ``hidden`` units)."""
    if name == "linear":
        return Architecture(name, pixels, latent, (), structured)
    if name == "mlp":
        return Architecture(name, pixels, latent, (hidden, hidden), structured)
    raise ValueError(f"unknown architecture '{name}'")


def _layer_names(prefix: str, count: int) -> list[tuple[str, str]]:
    return [(f"{prefix}.w{i}", f"{prefix}.b{i}") for i in range(count)]


def init_params(arch: Architecture, train_mean: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Glorot-uniform weights, zero biases, decoder output bias ``logit(clip(x̄))``, zero prior logits."""
    rng = np.random.default_rng(seed)
    params: dict[str, np.ndarray] = {}
    for prefix, sizes in (("enc", arch.encoder_sizes), ("dec", arch.decoder_sizes)):
        for (w_name, b_name), (fan_in, fan_out) in zip(
            _layer_names(prefix, len(sizes) - 1), zip(sizes[:-1], sizes[1:], strict=True), strict=True
        ):
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            params[w_name] = rng.uniform(-limit, limit, size=(fan_in, fan_out))
            params[b_name] = np.zeros(fan_out)
    clipped = np.clip(train_mean[arch.outputs], BIAS_CLIP, 1.0 - BIAS_CLIP)
    params[f"dec.b{len(arch.decoder_sizes) - 2}"] = np.log(clipped) - np.log1p(-clipped)
    if not arch.structured:
        params["prior"] = np.zeros(arch.latent.logit_width)
    return params


def _leaky(h: np.ndarray) -> np.ndarray:
    return np.where(h > 0.0, h, LEAKY_SLOPE * h)


def _mlp_forward(params, prefix: str, layers: int, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Affine layers with LeakyReLU between them; returns the output and each layer's input."""
    inputs = []
    h = x
    for i in range(layers):
        inputs.append(h)
        h = h @ params[f"{prefix}.w{i}"] + params[f"{prefix}.b{i}"]
        if i < layers - 1:
            h = _leaky(h)
    return h, inputs


def _mlp_backward(params, prefix: str, layers: int, inputs: list[np.ndarray], grad_out: np.ndarray, grads: dict):
    """Accumulate ``∂(Σ grad_out · output)/∂W`` of :func:`_mlp_forward` into ``grads``.

    ``grad_out`` is (rows, width) or (R, rows, width): R output gradients at once, each giving its
    own parameter gradient (leading axis R) through the same forward pass.
    """
    g = grad_out
    for i in reversed(range(layers)):
        grads[f"{prefix}.w{i}"] = inputs[i].T @ g
        grads[f"{prefix}.b{i}"] = g.sum(axis=-2)
        if i > 0:
            g = g @ params[f"{prefix}.w{i}"].T
            g = np.where(inputs[i] > 0.0, g, LEAKY_SLOPE * g)


def category_logits(latent: Latent, raw: np.ndarray) -> np.ndarray:
    """Raw logits (..., D·C) or (..., M) as category logits (..., D, C); binary: ``(0, φ)``."""
    if latent.binary:
        return np.stack([np.zeros_like(raw), raw], axis=-1)
    return raw.reshape(raw.shape[:-1] + (latent.dims, latent.categories))


def raw_gradient(latent: Latent, g: np.ndarray) -> np.ndarray:
    """Turn a gradient w.r.t. category logits (..., D, C) into one w.r.t. the raw logits (..., width)."""
    if latent.binary:
        return g[..., 1]
    return g.reshape(g.shape[:-2] + (latent.dims * latent.categories,))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """``l − logsumexp(l)`` over the last axis."""
    top = logits.max(axis=-1, keepdims=True)
    shifted = logits - top
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softplus(x: np.ndarray) -> np.ndarray:
    """``log(1 + eˣ)`` without overflow."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def encode(arch: Architecture, params, x: np.ndarray, train_mean: np.ndarray):
    """Category logits (B, D, C) of ``q(z | x)`` and the encoder's layer inputs."""
    seen = slice(0, arch.inputs)
    raw, inputs = _mlp_forward(params, "enc", len(arch.encoder_sizes) - 1, x[:, seen] - train_mean[seen])
    return category_logits(arch.latent, raw), inputs


def code(latent: Latent, z: np.ndarray) -> np.ndarray:
    """Return the decoder input ``2·code(z) − 1`` (..., width) of samples z (..., D)."""
    if latent.binary:
        return 2.0 * z - 1.0
    one_hot = np.arange(latent.categories) == z[..., None]
    return (2.0 * one_hot - 1.0).reshape(z.shape[:-1] + (latent.dims * latent.categories,))


def gather(table: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``Σ_d table[..., d, z_d]`` with table (..., D, C) broadcast against z (..., D)."""
    return np.take_along_axis(np.broadcast_to(table, z.shape + table.shape[-1:]), z[..., None], axis=-1)[..., 0].sum(
        axis=-1
    )


@dataclass
class Forward:
    """One forward pass: f (n, B) and what the backward pass reuses."""

    f: np.ndarray
    log_likelihood: np.ndarray
    log_prior: np.ndarray
    log_q: np.ndarray
    logits: np.ndarray
    enc_inputs: list
    dec_inputs: list
    dec_out: np.ndarray | None
    z: np.ndarray
    x: np.ndarray


def prior_logits(latent: Latent, params) -> np.ndarray:
    """Prior category logits (D, C)."""
    return category_logits(latent, params["prior"])


def active_rows(latent: Latent, z: np.ndarray) -> np.ndarray:
    """Return the rows that are 1 in ``code(z)`` of samples z (..., D): ``d·C + z_d``, or m if ``z_m = 1`` (else −1)."""
    if latent.binary:
        return np.where(z == 1, np.arange(latent.dims), -1).astype(np.int64)
    return (np.arange(latent.dims) * latent.categories + z).astype(np.int64)


def decode_log_likelihood(arch: Architecture, params, x: np.ndarray, z: np.ndarray, keep: bool = True):
    """``log p(x | z)`` (S, B) of the modelled pixels for samples z (S, B, D), with the decoder's η and layer inputs.

    The linear decoder gathers the active rows of W (:mod:`carms_cli.models.kernels.linear`); its
    "layer inputs" are then those rows (S, B, A) and the logistic σ(η) (S·B, P) the backward
    pass reads, instead of the dense code; without ``keep`` (no backward pass follows) η and σ
    are not stored, and η is returned as None.
    """
    s, b = z.shape[:2]
    if not arch.hidden:
        from carms_cli.models.kernels.linear import decode

        rows = active_rows(arch.latent, z)
        shape = (s * b, arch.pixels - arch.outputs.start) if keep else (1, 1)
        eta, sigma = np.empty(shape), np.empty(shape)
        log_likelihood = np.empty((s, b))
        x_out = np.ascontiguousarray(x[:, arch.outputs], dtype=np.float64)
        weights = np.ascontiguousarray(params["dec.w0"])
        decode(weights, params["dec.b0"], x_out, rows, keep, eta, sigma, log_likelihood)
        return log_likelihood, eta.reshape(s, b, -1) if keep else None, [rows, sigma]
    eta, inputs = _mlp_forward(params, "dec", len(arch.decoder_sizes) - 1, code(arch.latent, z).reshape(s * b, -1))
    eta = eta.reshape(s, b, -1)
    return (x[:, arch.outputs] * eta - softplus(eta)).sum(axis=-1), eta, inputs


def forward(
    arch: Architecture, params, x: np.ndarray, z: np.ndarray, train_mean: np.ndarray, logits=None, keep: bool = True
) -> Forward:
    """Compute f (S, B) of samples z (S, B, D) on data x (B, P); ``logits`` reuses an encoder pass.

    ``keep=False``: only f and its terms are needed (no :func:`backward` follows), so the linear
    decoder stores no per-pixel arrays (``dec_out`` is then None).

    Structured prediction: ``f = log p(x_lower | z)``, and ``log_prior`` is 0.
    """
    latent = arch.latent
    enc_inputs: list = []
    if logits is None:
        logits, enc_inputs = encode(arch, params, x, train_mean)
    log_q = gather(log_softmax(logits), z)
    log_likelihood, eta, dec_inputs = decode_log_likelihood(arch, params, x, z, keep)
    if arch.structured:
        log_prior = np.zeros_like(log_likelihood)
        f = log_likelihood
    else:
        log_prior = gather(log_softmax(prior_logits(latent, params)), z)
        f = log_likelihood + log_prior - log_q
    return Forward(
        f=f,
        log_likelihood=log_likelihood,
        log_prior=log_prior,
        log_q=log_q,
        logits=logits,
        enc_inputs=enc_inputs,
        dec_inputs=dec_inputs,
        dec_out=eta,
        z=z,
        x=x,
    )


def backward(
    arch: Architecture, params, fwd: Forward, logit_gradient: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """∇θ of ``S(θ) = (1/B) Σ_b [(1/n) Σ_i f(z_ib) + ⟨G_b, l_b(θ_enc)⟩]`` (see the module docstring).

    Decoder: ``∂ log p(x|z)/∂η = x − σ(η)``, back through the layers on the drawn codes. Prior:
    ``∂ log p(z)/∂π_d = e_{z_d} − softmax(π_d)``. Encoder: G (B, D, C) back through the layers
    (binary: only ``G[..., 1]``, the φ coordinate, reaches them). f is held at the drawn z.
    ``weights`` (S, B) replace the 1/n of sample i of example b (samples not drawn from q, e.g.
    UNORD's without replacement, need their own unbiased weights; the exact gradient weighs every
    configuration z by ``q(z | x_b)``).
    """
    latent = arch.latent
    n, b = fwd.z.shape[:2]
    grads: dict[str, np.ndarray] = {}
    if arch.hidden:
        sigma = 0.5 * (1.0 + np.tanh(0.5 * fwd.dec_out))  # logistic, stable at both ends
        if weights is None:
            grad_eta = ((fwd.x[:, arch.outputs] - sigma) / (n * b)).reshape(n * b, -1)
        else:
            grad_eta = ((fwd.x[:, arch.outputs] - sigma) * (weights / b)[..., None]).reshape(n * b, -1)
        _mlp_backward(params, "dec", len(arch.decoder_sizes) - 1, fwd.dec_inputs, grad_eta, grads)
    else:  # the linear decoder's transposed gather (:mod:`carms_cli.models.kernels.linear`)
        from carms_cli.models.kernels.linear import decode_backward

        grads["dec.w0"] = np.empty_like(params["dec.w0"])
        grads["dec.b0"] = np.empty_like(params["dec.b0"])
        x_out = np.ascontiguousarray(fwd.x[:, arch.outputs], dtype=np.float64)
        rows, sigma = fwd.dec_inputs
        scale = np.zeros((0, 0)) if weights is None else np.ascontiguousarray(weights / b, dtype=np.float64)
        decode_backward(x_out, rows, sigma, float(n * b), scale, grads["dec.w0"], grads["dec.b0"])
    if not arch.structured:
        prior_p = np.exp(log_softmax(prior_logits(latent, params)))
        one_hot = np.arange(latent.categories) == fwd.z[..., None]
        if weights is None:
            counts = one_hot.sum(axis=(0, 1)) / (n * b)  # (D, C)
        else:
            counts = (one_hot * (weights / b)[..., None, None]).sum(axis=(0, 1))
        grads["prior"] = raw_gradient(latent, counts - prior_p)
    grads.update(encoder_gradient(arch, params, fwd.enc_inputs, logit_gradient))
    return grads


def encoder_gradient(arch: Architecture, params, enc_inputs: list, logit_gradient: np.ndarray) -> dict[str, np.ndarray]:
    """∇ of ``(1/B) Σ_b ⟨G_b, l_b(θ_enc)⟩`` w.r.t. the encoder's weights and biases.

    ``logit_gradient`` G is (B, D, C), or (R, B, D, C) for R gradients at once (each array of the
    result then has a leading axis R). The map G ↦ ∇θ is linear: the encoder's Jacobian at the
    minibatch, transposed (binary: only ``G[..., 1]``, the φ coordinate, reaches the encoder).
    """
    enc_out = raw_gradient(arch.latent, logit_gradient) / enc_inputs[0].shape[0]
    grads: dict[str, np.ndarray] = {}
    _mlp_backward(params, "enc", len(arch.encoder_sizes) - 1, enc_inputs, enc_out, grads)
    return grads


def all_configurations(latent: Latent) -> np.ndarray:
    """Every z (C^D, D) in lexicographic order (variable 0 most significant)."""
    c, d = latent.categories, latent.dims
    return np.stack(np.unravel_index(np.arange(c**d), (c,) * d), axis=-1)


@dataclass(frozen=True)
class Exact:
    """Exact per-example quantities by enumeration of the C^D configurations."""

    elbo: np.ndarray  # (B,)  Σ_z q(z) f(z)
    log_marginal: np.ndarray  # (B,)  log Σ_z q(z) e^{f(z)}: log p(x) (VAE), log Σ_z q(z|x_up) p(x_low|z) (structured)
    logit_gradient: np.ndarray  # (B, D, C)  ∇_l E_q[f] = Σ_z q(z) f(z) (e_z − q)
    f: np.ndarray  # (C^D, B)
    q: np.ndarray  # (C^D, B)


def exact(arch: Architecture, params, x: np.ndarray, train_mean: np.ndarray) -> Exact:
    """E_q[f] (the ELBO), ``log E_q[e^f]`` (log p(x)) and ``∇_l E_q[f]`` per example, by enumeration (C^D ≤ 4096)."""
    latent = arch.latent
    configs = all_configurations(latent)
    z = np.broadcast_to(configs[:, None, :], (configs.shape[0], x.shape[0], latent.dims))
    fwd = forward(arch, params, x, np.ascontiguousarray(z), train_mean, keep=False)
    q = np.exp(fwd.log_q)
    joint = fwd.f + fwd.log_q
    top = joint.max(axis=0)
    log_marginal = top + np.log(np.exp(joint - top).sum(axis=0))
    probs = np.exp(log_softmax(fwd.logits))  # (B, D, C)
    one_hot = (np.arange(latent.categories) == z[..., None]).astype(np.float64)  # (S, B, D, C)
    weight = (q * fwd.f)[..., None, None]
    gradient = (weight * (one_hot - probs)).sum(axis=0)
    return Exact((q * fwd.f).sum(axis=0), log_marginal, gradient, fwd.f, q)


def sample(logits: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` independent draws (count, B, D) from ``softmax(logits)`` (B, D, C) by the Gumbel-max trick."""
    gumbel = -np.log(-np.log(rng.random((count,) + logits.shape)))
    return (logits + gumbel).argmax(axis=-1)


def importance_bound(arch: Architecture, params, x: np.ndarray, train_mean: np.ndarray, k: int, rng) -> np.ndarray:
    """Return the k-sample bound ``log (1/k) Σ_i exp f(z_i)``, z_i iid from q (per example, (B,)); k = 1 is the ELBO."""
    logits, _ = encode(arch, params, x, train_mean)
    f = forward(arch, params, x, sample(logits, k, rng), train_mean, logits=logits, keep=False).f
    top = f.max(axis=0)
    return top + np.log(np.exp(f - top).mean(axis=0))


def exact_gradient(arch: Architecture, params, x: np.ndarray, train_mean: np.ndarray) -> dict[str, np.ndarray]:
    """∇θ of the minibatch ELBO ``(1/B) Σ_b E_q[f_b]`` by enumeration of the C^D configurations.

    Decoder and prior: ``(1/B) Σ_b Σ_z q(z | x_b) ∇ f_b(z)`` (:func:`backward` with weights
    ``q``); encoder: the exact logit gradient ``Σ_z q f (e_z − q)`` back through the layers
    (the direct term ``Σ_z q ∇_l f = −Σ_z ∇_l q = 0``).
    """
    latent = arch.latent
    logits, enc_inputs = encode(arch, params, x, train_mean)
    configs = all_configurations(latent)
    z = np.ascontiguousarray(np.broadcast_to(configs[:, None, :], (configs.shape[0], x.shape[0], latent.dims)))
    fwd = forward(arch, params, x, z, train_mean, logits=logits)
    fwd.enc_inputs = enc_inputs
    q = np.exp(fwd.log_q)  # (C^D, B)
    probs = np.exp(log_softmax(logits))
    one_hot = (np.arange(latent.categories) == z[..., None]).astype(np.float64)
    logit_gradient = ((q * fwd.f)[..., None, None] * (one_hot - probs)).sum(axis=0)
    return backward(arch, params, fwd, logit_gradient, weights=q)
def relaxed_log_likelihood(arch: Architecture, params, x: np.ndarray, codes: np.ndarray):
    """``log p(x | c)`` (S, B) at dense codes c (S, B, width) and its gradient ∂/∂c (S, B, width).

    The decoder takes ``2c − 1`` as it takes ``2·code(z) − 1``, so at a one-hot c (binary: bits)
    this is :func:`decode_log_likelihood`. Backward pass: ``∂/∂η = x − σ(η)``, back through the
    layers (``Wᵀ`` and the LeakyReLU slopes) to the input, times 2.
    """
    s, b, width = codes.shape
    layers = len(arch.decoder_sizes) - 1
    eta, inputs = _mlp_forward(params, "dec", layers, (2.0 * codes - 1.0).reshape(s * b, width))
    target = np.broadcast_to(x[:, arch.outputs], (s, b, eta.shape[-1])).reshape(s * b, -1)
    log_likelihood = (target * eta - softplus(eta)).sum(axis=-1).reshape(s, b)
    g = target - 0.5 * (1.0 + np.tanh(0.5 * eta))
    for i in reversed(range(layers)):
        g = g @ params[f"dec.w{i}"].T
        if i > 0:
            g = np.where(inputs[i] > 0.0, g, LEAKY_SLOPE * g)
    return log_likelihood, 2.0 * g.reshape(s, b, width)
