"""``carms vae train``: discrete VAEs trained with each estimator, the papers' own experiment."""

import math
import re
from enum import Enum
from typing import Annotated

import typer

from carms_cli.cli.options import JsonOut, MaxMemory, Quiet, check_record_outputs, write_records
from carms_cli.core.errors import InputError

DEFAULT_CATEGORICAL = "reinforce,loorf,carms"
DEFAULT_BINARY = "loorf,disarm,arms"
DEFAULT_LATENT = "3x4"


class ArchName(str, Enum):
    """Encoder and decoder shape."""

    linear = "linear"
    mlp = "mlp"


class Binarisation(str, Enum):
    """How intensities in [0, 1] become bits."""

    dynamic = "dynamic"
    static = "static"


def parse_latent(text: str) -> tuple[int, int]:
    """``DxC`` → (D, C)."""
    match = re.fullmatch(r"\s*(\d+)\s*[x×]\s*(\d+)\s*", text)
    if match is None:
        raise InputError(f"--latent expects DxC (e.g. 20x10), got '{text}'")
    dims, categories = int(match.group(1)), int(match.group(2))
    if dims < 1 or categories < 2:
        raise InputError(f"--latent needs D ≥ 1 and C ≥ 2, got '{text}'")
    return dims, categories


def parse_seeds(text: str) -> tuple[int, ...]:
    """``0`` or ``0,1,2``: distinct non-negative integers."""
    try:
        seeds = tuple(dict.fromkeys(int(part) for part in text.split(",") if part.strip()))
    except ValueError:
        raise InputError(f"--seeds expects integers like '0' or '0,1,2', got '{text}'") from None
    if not seeds or any(s < 0 for s in seeds):
        raise InputError(f"--seeds expects non-negative integers, got '{text}'")
    return seeds


def resolve_latent(latent: str | None, binary: int | None) -> tuple[int, int]:
    """(D, C) from ``--latent DxC`` or ``--binary M`` (C = 2); neither: 3x4."""
    if latent is not None and binary is not None:
        raise InputError("--latent and --binary cannot both be given")
    if binary is not None:
        if binary < 1:
            raise InputError(f"--binary must be at least 1, got {binary}")
        return binary, 2
    return parse_latent(latent or DEFAULT_LATENT)


def _check_model(hidden: int, pixels: int) -> None:
    for name, value in (("--hidden", hidden), ("--pixels", pixels)):
        if value < 1:
            raise InputError(f"{name} must be at least 1, got {value}")


def _check_vae_memory(estimate, batch: int, max_memory: str | None, what: str) -> None:
    """Refuse (exit 2) a run whose estimated memory exceeds the budget, naming the largest --batch that fits."""
    from carms_cli.core.budget import check_size, parse_memory

    check_size(estimate, batch, parse_memory(max_memory), what, "--batch")


def _model_options(data: str, dims: int, categories: int, binary: int | None, arch: ArchName, hidden: int,
                   structured: bool) -> dict:  # fmt: skip
    """Return the model options that both commands' records carry, as their config fields."""
    return {"data": data, "dims": dims, "categories": categories, "binary": binary is not None, "arch": arch.value,
            "hidden": hidden, "structured": structured}  # fmt: skip


def _data_and_model(options: dict, pixels: int, seed: int):
    """Read (or plant, from ``seed``) the images of ``--data``, build the model ``options`` name: (dataset, model)."""
    from carms_cli.models.data import resolve
    from carms_cli.models.network import Latent, architecture

    dataset = resolve(options["data"], pixels, seed)
    if options["structured"] and dataset.pixels < 2:
        raise InputError("--structured needs images of at least 2 pixels (an upper and a lower half)")
    latent = Latent(options["dims"], options["categories"], options["binary"])
    return dataset, architecture(options["arch"], dataset.pixels, latent, options["hidden"], options["structured"])


def split_exact(text: str, dims: int, categories: int) -> tuple[str | None, int | None]:
    """Take the exact reference out of ``-e``: (the other names or None, its position or None).

    The reference enumerates C^D configurations per example; above 4096 it is refused.
    """
    from carms_cli.models.training import EXACT, MAX_EXACT

    names = [name.strip() for name in text.split(",") if name.strip()]
    if EXACT not in (name.lower() for name in names):
        return text, None
    position = [name.lower() for name in names].index(EXACT)
    if categories**dims > MAX_EXACT:
        raise InputError(
            f"estimator 'exact' enumerates C^D = {categories}^{dims} configurations per example; "
            f"it runs at C^D ≤ {MAX_EXACT:,} (e.g. --latent 3x4)"
        )
    others = [name for name in names if name.lower() != EXACT]
    return (",".join(others) if others else None), position


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{name} must be a positive number, got {value}")


Data = Annotated[
    str,
    typer.Option(
        "--data",
        help="planted:DxC, planted:M (binary), digits (scikit-learn's 8×8 digits; the digits extra) or PATH.npz "
        "(keys train, valid, test).",
    ),
]
LatentOption = Annotated[
    str | None,
    typer.Option("--latent", help=f"Categorical latent: D variables × C categories (default {DEFAULT_LATENT})."),
]
BinaryOption = Annotated[
    int | None, typer.Option("--binary", help="Binary latent of M Bernoulli variables (instead of --latent).")
]
Arch = Annotated[ArchName, typer.Option("--arch", help="linear, or mlp (two hidden LeakyReLU layers).")]
Hidden = Annotated[int, typer.Option("--hidden", help="Hidden units per layer of --arch mlp.")]
Pixels = Annotated[int, typer.Option("--pixels", help="Pixels per image of planted data.")]
Structured = Annotated[
    bool,
    typer.Option(
        "--structured", help="Structured output prediction: the lower half of each image from the upper half."
    ),
]
Estimators = Annotated[
    str | None,
    typer.Option(
        "--estimators", "-e", help=f"Comma-separated (default {DEFAULT_CATEGORICAL}; binary {DEFAULT_BINARY})."
    ),
]
TrainEstimators = Annotated[
    str | None,
    typer.Option(
        "--estimators",
        "-e",
        help=f"Comma-separated (default {DEFAULT_CATEGORICAL}; binary {DEFAULT_BINARY}); 'exact': the exact-gradient "
        "reference (C^D ≤ 4096).",
    ),
]


def train(
    data: Data = "planted:3x4",
    latent: LatentOption = None,
    binary: BinaryOption = None,
    arch: Arch = ArchName.linear,
    hidden: Hidden = 200,
    samples: Annotated[int, typer.Option("--samples", "-n", help="Samples n per example and step.")] = 4,
    estimators: TrainEstimators = None,
    steps: Annotated[int, typer.Option("--steps", help="Training steps per run.")] = 300,
    batch: Annotated[int, typer.Option("--batch", help="Examples per minibatch.")] = 50,
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate of encoder and decoder.")] = 1e-3,
    prior_lr: Annotated[float, typer.Option("--prior-lr", help="Adam learning rate of the prior logits.")] = 1e-2,
    binarisation: Annotated[
        Binarisation, typer.Option("--binarisation", help="dynamic: fresh bits per minibatch; static: drawn once.")
    ] = Binarisation.dynamic,
    pixels: Pixels = 32,
    structured: Structured = False,
    eval_every: Annotated[int, typer.Option("--eval-every", help="Steps between checkpoint evaluations.")] = 100,
    eval_k: Annotated[int, typer.Option("--eval-k", help="Samples k of the importance-weighted bound.")] = 20,
    eval_examples: Annotated[
        int,
        typer.Option("--eval-examples", help="Examples of each split (a seeded subset) the bounds are averaged over."),
    ] = 500,
    replicates: Annotated[
        int, typer.Option("--replicates", help="Independent estimates R per variance measurement.")
    ] = 100,
    variance_batch: Annotated[
        int, typer.Option("--variance-batch", help="Examples of the fixed minibatch the variance is measured on.")
    ] = 20,
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds: one run per seed and estimator.")] = "0",
    checkpoint: Annotated[
        str | None, typer.Option("--checkpoint", help="Save the training state to PATH.npz at every evaluation.")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from --checkpoint (same options).")] = False,
    plot: Annotated[
        str | None, typer.Option("--plot", help="Write a 3-panel figure to PATH (.png or .svg; needs the plot extra).")
    ] = None,
    json_out: JsonOut = None,
    max_memory: MaxMemory = None,
    csv_out: Annotated[
        str | None, typer.Option("--csv", help="Write one row per (seed, estimator, checkpoint) to PATH ('-': stdout).")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Train a discrete VAE with each estimator (same start, same minibatches); report bounds and variance.

    Example: carms vae train --data planted:3x4 --latent 3x4 --steps 300 -e loorf,carms
    """
    dims, categories = resolve_latent(latent, binary)
    _check_model(hidden, pixels)
    for name, value in (("--steps", steps), ("--batch", batch), ("--eval-every", eval_every), ("--eval-k", eval_k)):
        if value < 1:
            raise InputError(f"{name} must be at least 1, got {value}")
    if eval_examples < 1:
        raise InputError(f"--eval-examples must be at least 1, got {eval_examples}")
    if replicates < 2 or variance_batch < 1:
        raise InputError("--replicates must be at least 2 and --variance-batch at least 1")
    if not 2 <= samples <= 64:
        raise InputError(f"--samples must be in 2..64, got {samples}")
    _positive("--lr", lr)
    _positive("--prior-lr", prior_lr)
    if resume and checkpoint is None:
        raise InputError("--resume needs --checkpoint PATH")
    if checkpoint is not None and not checkpoint.endswith(".npz"):
        raise InputError(f"--checkpoint must end in .npz, got '{checkpoint}'")
    check_record_outputs(json_out, csv_out, {"--data": data}, plot)
    seed_list = parse_seeds(seeds)

    from carms_cli.analysis.vae import VaeConfig, vae_record
    from carms_cli.discrete.registry import parse_estimators
    from carms_cli.models.gradients import check_estimators
    from carms_cli.present.export import vae_csv
    from carms_cli.present.table import ProgressBar, print_vae_record

    default = DEFAULT_BINARY if binary is not None else DEFAULT_CATEGORICAL
    others, exact_at = split_exact(estimators or default, dims, categories)
    specs = parse_estimators(others, categories, samples) if others is not None else []
    check_estimators(specs, categories, samples, dims)
    names = [spec.name for spec in specs]
    if exact_at is not None:
        names.insert(exact_at, "exact")
    options = _model_options(data, dims, categories, binary, arch, hidden, structured)
    dataset, model = _data_and_model(options, pixels, seed_list[0])
    from carms_cli.models.gradients_joint import evaluations_per_step
    from carms_cli.models.memory import train_bytes

    rows = max([evaluations_per_step(spec, categories, samples, 1) for spec in specs], default=0)  # per example
    if exact_at is not None:
        rows = max(rows, categories**dims)
    _check_vae_memory(
        lambda size: train_bytes(model, size, rows, eval_examples * eval_k, replicates, variance_batch),
        batch,
        max_memory,
        f"this training run ({model.latent.describe()} latent, {dataset.pixels:,} pixels, batch {batch:,})",
    )
    config = VaeConfig(
        **options,
        samples=samples,
        estimators=tuple(names),
        steps=steps,
        batch=batch,
        lr=lr,
        prior_lr=prior_lr,
        binarisation=binarisation.value,
        eval_every=eval_every,
        eval_k=eval_k,
        eval_examples=eval_examples,
        variance_replicates=replicates,
        variance_batch=variance_batch,
        seeds=seed_list,
    )
    bar = ProgressBar(steps * len(names) * len(seed_list), enabled=not quiet, label="training", unit="steps")
    try:
        record = vae_record(config, dataset, checkpoint, resume, progress=bar)
    finally:
        bar.close()
    if plot is not None:
        from carms_cli.present.charts import write_vae_figure

        write_vae_figure(record, plot)
    write_records(record, json_out, csv_out, quiet, vae_csv, print_vae_record)


def parse_sample_sizes(text: str) -> tuple[int, ...]:
    """``4`` or ``2,4,8``: sample sizes in 2..64."""
    try:
        sizes = tuple(dict.fromkeys(int(part) for part in text.split(",") if part.strip()))
    except ValueError:
        raise InputError(f"--samples expects integers like '4' or '2,4,8', got '{text}'") from None
    if not sizes or any(not 2 <= n <= 64 for n in sizes):
        raise InputError(f"--samples values must be in 2..64, got '{text}'")
    return sizes


def from_checkpoint(saved, given: dict) -> dict:
    """Return the model options of a train checkpoint; InputError naming a given option that differs.

    ``given`` maps option names to the values given on the command line (None: not given).
    """
    config = saved.config
    latent = (
        f"--binary {config['dims']}" if config["binary"] else f"--latent {config['dims']}x{config['categories']}"
    )
    model = {
        "--data": config["data"],
        "--arch": config["arch"],
        "--hidden": config["hidden"],
        "--pixels": saved.pixels,
        "--structured": config["structured"],
    }
    for name, value in given.items():
        if value is None or value is False:
            continue
        if name in ("--latent", "--binary"):
            if (f"{name} {value}" if name == "--binary" else "--latent {}x{}".format(*parse_latent(value))) != latent:
                raise InputError(f"{name} {value} conflicts with the checkpoint's {latent} (leave it out)")
        elif name == "--structured":
            if not model[name]:
                raise InputError("--structured conflicts with the checkpoint's model (trained without --structured)")
        elif name == "--warmup-steps":
            raise InputError("--warmup-steps does not apply with --checkpoint (its parameters are frozen as saved)")
        elif value != model[name]:
            raise InputError(f"{name} {value} conflicts with the checkpoint's {name} {model[name]} (leave it out)")
    return model


def variance(
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="planted:DxC, planted:M (binary), digits (scikit-learn's 8×8 digits; the digits extra) or PATH.npz "
            "(keys train, valid, test); default planted:3x4.",
        ),
    ] = None,
    latent: LatentOption = None,
    binary: BinaryOption = None,
    arch: Annotated[
        ArchName | None, typer.Option("--arch", help="linear (default), or mlp (two hidden LeakyReLU layers).")
    ] = None,
    hidden: Annotated[int | None, typer.Option("--hidden", help="Hidden units per layer of --arch mlp (200).")] = None,
    pixels: Annotated[int | None, typer.Option("--pixels", help="Pixels per image of planted data (32).")] = None,
    structured: Structured = False,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            "--checkpoint",
            help="Measure at the parameters saved by 'carms vae train --checkpoint PATH' (its model and data).",
        ),
    ] = None,
    samples: Annotated[str, typer.Option("--samples", "-n", help="Samples per estimate: '4' or '2,4,8'.")] = "4",
    estimators: Estimators = None,
    replicates: Annotated[int, typer.Option("--replicates", "-r", help="Independent estimates R.")] = 1000,
    batch: Annotated[int, typer.Option("--batch", help="Examples of the frozen minibatch.")] = 10,
    warmup_steps: Annotated[
        int | None, typer.Option("--warmup-steps", help="LOORF training steps before the parameters are frozen (0).")
    ] = None,
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate of the warm-up (prior: 10×).")] = 1e-3,
    significance: Annotated[
        float, typer.Option("--significance", help="Family-wise level of the Bonferroni bias test.")
    ] = 1e-3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the data, parameters, minibatch and estimates.")] = 0,
    json_out: JsonOut = None,
    max_memory: MaxMemory = None,
    csv_out: Annotated[
        str | None, typer.Option("--csv", help="Write one row per (n, estimator) to PATH ('-': stdout).")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Variance of each estimator's encoder-logit gradient at frozen parameters, against LOORF; bias z-test.

    Example: carms vae variance --latent 3x4 --samples 2,4 -e loorf,carms --replicates 2000
    """
    saved = None
    if checkpoint is not None:
        from carms_cli.models.checkpoint import parameters

        saved = parameters(checkpoint)
        given = {"--data": data, "--latent": latent, "--binary": binary, "--arch": arch.value if arch else None,
                 "--hidden": hidden, "--pixels": pixels, "--structured": structured,
                 "--warmup-steps": warmup_steps or None}  # fmt: skip
        model_options = from_checkpoint(saved, given)
        data, hidden, pixels = model_options["--data"], model_options["--hidden"], model_options["--pixels"]
        arch, structured = ArchName(model_options["--arch"]), model_options["--structured"]
        dims, categories = saved.config["dims"], saved.config["categories"]
        binary = dims if saved.config["binary"] else None
        latent = None
    else:
        dims, categories = resolve_latent(latent, binary)
    data = "planted:3x4" if data is None else data
    arch = ArchName.linear if arch is None else arch
    hidden = 200 if hidden is None else hidden
    pixels = 32 if pixels is None else pixels
    warmup_steps = 0 if warmup_steps is None else warmup_steps
    _check_model(hidden, pixels)
    sizes = parse_sample_sizes(samples)
    if replicates < 2 or batch < 1 or warmup_steps < 0 or seed < 0:
        raise InputError("--replicates must be at least 2, --batch at least 1, --warmup-steps and --seed at least 0")
    _positive("--lr", lr)
    if not 0 < significance < 1:
        raise InputError(f"--significance must be in (0, 1), got {significance}")
    check_record_outputs(json_out, csv_out, {"--data": data, "--checkpoint": checkpoint})

    from carms_cli.analysis.vae import VaeVarianceConfig, vae_variance_record
    from carms_cli.discrete.registry import parse_estimators
    from carms_cli.models.gradients import check_estimators
    from carms_cli.present.export import vae_variance_csv
    from carms_cli.present.table import print_vae_variance

    default = DEFAULT_BINARY if binary is not None else DEFAULT_CATEGORICAL
    specs = parse_estimators(estimators or default, categories, min(sizes))
    for n in sizes:
        check_estimators(specs, categories, n, dims)
    options = _model_options(data, dims, categories, binary, arch, hidden, structured)
    config = VaeVarianceConfig(
        **options,
        samples=sizes,
        estimators=tuple(spec.name for spec in specs),
        replicates=replicates,
        batch=batch,
        warmup_steps=warmup_steps,
        lr=lr,
        significance=significance,
        seed=seed,
        checkpoint=checkpoint,
    )
    data_seed = seed if saved is None else saved.config["seeds"][0]
    dataset, model = _data_and_model(options, pixels, data_seed)
    from carms_cli.models.gradients_joint import evaluations_per_step
    from carms_cli.models.memory import variance_bytes

    rows = max(evaluations_per_step(spec, categories, n, 1) for spec in specs for n in sizes)  # per example
    _check_vae_memory(
        lambda size: variance_bytes(model, size, rows, replicates),
        batch,
        max_memory,
        f"this variance run ({model.latent.describe()} latent, {replicates:,} replicates, batch {batch:,})",
    )
    record = vae_variance_record(config, dataset, saved)
    write_records(record, json_out, csv_out, quiet, vae_variance_csv, print_vae_variance)


def import_(
    train: Annotated[str, typer.Option("--train", help="FILE.amat or FILE.mat:KEY of the training images.")],
    test: Annotated[str, typer.Option("--test", help="FILE.amat or FILE.mat:KEY of the test images.")],
    out: Annotated[str, typer.Option("--out", help="The .npz file to write (keys train, valid, test).")],
    valid: Annotated[
        str | None,
        typer.Option(
            "--valid", help="FILE.amat or FILE.mat:KEY of the validation images (default: the last tenth of --train)."
        ),
    ] = None,
    transpose: Annotated[bool, typer.Option("--transpose", help="The matrices hold one image per column.")] = False,
) -> None:
    """Convert .amat or .mat image files to the .npz that --data reads (values in [0, 1]).

    Example: carms vae import --train omniglot.mat:data --test omniglot.mat:testdata --transpose --out omniglot.npz
    """
    if not out.endswith(".npz"):
        raise InputError(f"--out must end in .npz, got '{out}'")
    from carms_cli.models.data import read_split, write_npz

    splits = {"train": read_split(train, transpose), "test": read_split(test, transpose)}
    if valid is not None:
        splits["valid"] = read_split(valid, transpose)
    else:
        count = splits["train"].shape[0]
        cut = count - max(1, count // 10)
        if cut < 1:
            raise InputError("--train has too few images to split off a validation set; give --valid")
        splits["train"], splits["valid"] = splits["train"][:cut], splits["train"][cut:]
    widths = {a.shape[1] for a in splits.values()}
    if len(widths) != 1:
        raise InputError(f"the splits have different image sizes {sorted(widths)}")
    write_npz(out, {key: splits[key] for key in ("train", "valid", "test")})
    sizes = ", ".join(f"{key} {splits[key].shape[0]:,}" for key in ("train", "valid", "test"))
    typer.echo(f"wrote {out}: {sizes} images of {widths.pop()} pixels")
