"""Data for the model objectives: a planted generator, ``.npz`` files, binarisation.

- ``planted:DxC`` (or ``planted:M`` binary): z from a random categorical prior, x from a random
  linear decoder, so that at tiny D·C the exact log p(x) and ELBO gradients are enumerable;
- ``digits``: scikit-learn's ``load_digits`` (the ``digits`` extra), 1,797 8×8 images with values
  0..16 as intensities ``v/16`` in [0, 1], split by a fixed seeded permutation into
  :data:`DIGITS_SIZES` train/valid/test images;
- ``PATH.npz`` with keys ``train``, ``valid``, ``test``: uint8 0/1 or floats in [0, 1], one
  row per image (any trailing shape is flattened).

Binarisation: ``static`` draws every image's bits once (seeded), ``dynamic`` redraws each
minibatch ``x ~ Bernoulli(pixel intensity)``; data already 0/1 is the same under both.
"""

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from carms_cli.core.errors import InputError

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Dataset:
    """Pixel intensities in [0, 1], one row per image, and where they came from."""

    name: str
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    @property
    def pixels(self) -> int:
        """Pixels per image."""
        return self.train.shape[1]

    @property
    def binary(self) -> bool:
        """Whether every value is already 0 or 1 (binarisation changes nothing)."""
        return all(bool(np.all((s == 0.0) | (s == 1.0))) for s in (self.train, self.valid, self.test))

    def describe(self) -> str:
        """``name: 50,000/10,000/10,000 images of 784 pixels``."""
        sizes = "/".join(f"{s.shape[0]:,}" for s in (self.train, self.valid, self.test))
        return f"{self.name}: {sizes} train/valid/test images of {self.pixels} pixels"


_PLANTED = re.compile(r"^planted:(\d+)(?:x(\d+))?$")


def parse_planted(spec: str) -> tuple[int, int | None] | None:
    """``planted:DxC`` → (D, C), ``planted:M`` → (M, None); anything else → None."""
    match = _PLANTED.match(spec.strip().lower())
    if match is None:
        return None
    return int(match.group(1)), (int(match.group(2)) if match.group(2) else None)


def planted(dims: int, categories: int | None, pixels: int, sizes: tuple[int, int, int], seed: int) -> Dataset:
    """Images from a random generative model with D variables of C categories (None: binary, C = 2).

    Prior logits ~ N(0, 1) per category, decoder weights ~ N(0, 2²) on ``2·code(z) − 1`` with
    biases ~ N(0, 1); each image is the Bernoulli draw ``x ~ sigmoid(η(z))`` of a fresh z.
    """
    if dims < 1 or (categories is not None and categories < 2) or pixels < 1:
        raise InputError("planted data needs at least 1 variable, 2 categories and 1 pixel")
    rng = np.random.default_rng(seed)
    c = 2 if categories is None else categories
    prior = rng.normal(size=(dims, c))
    width = dims if categories is None else dims * c
    weights = rng.normal(scale=2.0, size=(width, pixels))
    bias = rng.normal(size=pixels)
    splits = []
    for count in sizes:
        gumbel = -np.log(-np.log(rng.random((count, dims, c))))
        z = (prior + gumbel).argmax(axis=-1)
        codes = 2.0 * z - 1.0 if categories is None else (2.0 * (np.arange(c) == z[..., None]) - 1.0).reshape(count, -1)
        eta = codes @ weights + bias
        splits.append((rng.random((count, pixels)) < 1.0 / (1.0 + np.exp(-eta))).astype(np.float64))
    label = f"planted:{dims}" if categories is None else f"planted:{dims}x{categories}"
    return Dataset(f"{label} (seed {seed})", *splits)


def _as_images(name: str, path: str, array: np.ndarray) -> np.ndarray:
    if array.ndim < 2 or array.shape[0] == 0 or array[0].size == 0:
        raise InputError(f"{path}: '{name}' must hold at least one image (shape {array.shape})")
    if array.dtype == np.uint8:
        if array.max() > 1:
            raise InputError(f"{path}: '{name}' is uint8 with values above 1 (expected 0/1 bits)")
    elif np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or array.min() < 0.0 or array.max() > 1.0:
            raise InputError(f"{path}: '{name}' has values outside [0, 1]")
    else:
        raise InputError(f"{path}: '{name}' has dtype {array.dtype} (expected uint8 0/1 or floats in [0, 1])")
    return np.ascontiguousarray(array.reshape(array.shape[0], -1), dtype=np.float64)


def load_npz(path: str) -> Dataset:
    """Read ``train``, ``valid`` and ``test`` from an ``.npz`` file; InputError on anything else."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"--data: no such file '{path}'")
    try:
        with np.load(file, allow_pickle=False) as archive:
            missing = [key for key in SPLITS if key not in archive.files]
            if missing:
                raise InputError(f"{path}: missing key(s) {', '.join(missing)} (needs train, valid, test)")
            arrays = {key: _as_images(key, path, archive[key]) for key in SPLITS}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: not a readable .npz file ({exc})") from None
    widths = {a.shape[1] for a in arrays.values()}
    if len(widths) != 1:
        raise InputError(f"{path}: train, valid and test have different image sizes {sorted(widths)}")
    return Dataset(file.name, arrays["train"], arrays["valid"], arrays["test"])


def binarise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One Bernoulli draw per pixel, ``x_j ~ Bernoulli(intensity_j)`` (0/1 data is unchanged)."""
    return (rng.random(x.shape) < x).astype(np.float64)


def static(dataset: Dataset, seed: int) -> Dataset:
    """Every split binarised once with a seeded stream (the identity on 0/1 data)."""
    if dataset.binary:
        return dataset
    rng = np.random.default_rng([seed, 0x5747])
    return Dataset(dataset.name, *(binarise(s, rng) for s in (dataset.train, dataset.valid, dataset.test)))


#: Images per split of planted data (train, valid, test).
PLANTED_SIZES = (2000, 500, 500)
#: ``--data`` name of scikit-learn's digits.
DIGITS = "digits"
#: Images per split of the digits (train, valid, test): 1,797 in all.
DIGITS_SIZES = (1397, 200, 200)
#: Seed of the digits' split permutation: the same split for every run.
DIGITS_SPLIT_SEED = 0


def digits() -> Dataset:
    """scikit-learn's 1,797 8×8 digits, intensities ``v/16`` in [0, 1], split by a fixed seeded permutation.

    Without scikit-learn: InputError naming the ``digits`` extra.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise InputError("--data digits needs scikit-learn: pip install 'carms-cli[digits]'") from None
    images = np.asarray(load_digits().data, dtype=np.float64) / 16.0  # (1797, 64), values 0..16
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(images.shape[0])
    cuts = np.cumsum(DIGITS_SIZES)[:-1]
    train, valid, test = (np.ascontiguousarray(images[part]) for part in np.split(order, cuts))
    return Dataset("digits (scikit-learn)", train, valid, test)


def resolve(spec: str, pixels: int, seed: int) -> Dataset:
    """``planted:DxC`` / ``planted:M`` (``pixels`` per image, data seed ``seed``), ``digits`` or a ``.npz`` path."""
    if spec.strip().lower() == DIGITS:
        return digits()
    planted_spec = parse_planted(spec)
    if planted_spec is not None:
        return planted(planted_spec[0], planted_spec[1], pixels, PLANTED_SIZES, seed)
    if spec.strip().lower().startswith("planted"):
        raise InputError(f"--data: '{spec}' is not planted:DxC or planted:M (e.g. planted:3x4)")
    return load_npz(spec)


def read_split(spec: str, transpose: bool = False) -> np.ndarray:
    """Images (N, P) from ``FILE.amat`` (whitespace-separated rows) or ``FILE.mat:KEY`` (a MATLAB matrix).

    ``transpose`` reads a matrix stored one image per column (as Omniglot's ``chardata.mat``).
    """
    path, _, key = spec.partition(":") if spec.lower().split(":")[0].endswith(".mat") else (spec, "", "")
    if not Path(path).is_file():
        raise InputError(f"no such file '{path}'")
    if path.lower().endswith(".amat"):
        try:
            array = np.loadtxt(path, dtype=np.float64, ndmin=2)
        except ValueError as exc:
            raise InputError(f"{path}: not a whitespace-separated matrix ({exc})") from None
    elif path.lower().endswith(".mat"):
        from scipy.io import loadmat

        try:
            contents = loadmat(path)
        except (ValueError, TypeError, OSError) as exc:
            raise InputError(f"{path}: not a readable .mat file ({exc})") from None
        names = sorted(name for name in contents if not name.startswith("__"))
        if key not in names:
            raise InputError(f"{path}: name the matrix as {path}:KEY (it holds {', '.join(names) or 'none'})")
        array = np.asarray(contents[key], dtype=np.float64)
    else:
        raise InputError(f"'{spec}' is neither FILE.amat nor FILE.mat:KEY")
    array = array.T if transpose else array
    return _as_images(key or "matrix", path, array)


def write_npz(path: str, splits: dict[str, np.ndarray]) -> None:
    """Write ``train``, ``valid``, ``test`` to ``path`` atomically: uint8 when every value is 0 or 1."""
    from carms_cli.core.files import atomic_path

    binary = all(bool(np.all((a == 0.0) | (a == 1.0))) for a in splits.values())
    arrays = {key: a.astype(np.uint8) if binary else a for key, a in splits.items()}
    try:
        with atomic_path(path) as temporary, open(temporary, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    except OSError as exc:
        raise InputError(f"cannot write '{path}': {exc.strerror or exc}") from None
