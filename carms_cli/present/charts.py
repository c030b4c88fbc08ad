"""Figures: the ARMS toy figure (variance against p, one panel per n, one line per estimator).

matplotlib is the optional extra ``carms-cli[plot]`` and is imported only here, only when a
figure file is asked for.
"""

from pathlib import Path

from carms_cli.core.errors import InputError


def write_train_figure(trajectories, path: str) -> None:
    """Write the figure to ``path`` (.png or .svg).

    Log-scale variance across replicates against p, one panel per n, one line per estimator; the
    exact variance dashed where known.
    """
    plt = _pyplot(path)
    sizes = sorted({t.samples for t in trajectories})
    fig, axes = plt.subplots(1, len(sizes), figsize=(4 * len(sizes), 3.4), sharey=True, squeeze=False)
    for axis, n in zip(axes[0], sizes, strict=True):
        for index, t in enumerate(x for x in trajectories if x.samples == n):
            color = f"C{index}"
            axis.plot(t.p, t.variance, color=color, lw=1, label=t.estimator)
            exact = [(p, v) for p, v in zip(t.p, t.variance_exact, strict=True) if v is not None and v > 0]
            if exact:
                axis.plot(*zip(*exact, strict=True), color=color, lw=1, ls="--")
        axis.set_yscale("log")
        axis.set_xlabel("p = sigmoid(φ)")
        axis.set_title(f"n = {n}")
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("gradient variance")
    axes[0][-1].legend(fontsize=8)
    _save(fig, plt, path)


def _pyplot(path: str):
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".svg"):
        raise InputError(f"--plot must end in .png or .svg (or be '-' for the terminal), got '{path}'")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'carms-cli[plot]'") from None
    return plt


def _save(fig, plt, path: str) -> None:
    from carms_cli.core.files import atomic_path

    fig.tight_layout()
    try:
        with atomic_path(path) as temporary:
            fig.savefig(temporary, format=Path(path).suffix.lstrip(".").lower())
    except OSError as exc:
        raise InputError(f"cannot write the figure to '{path}': {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


def write_variance_figure(results, path: str) -> None:
    """Bars of the total variance per estimator (log scale) with 95% intervals."""
    plt = _pyplot(path)
    fig, axis = plt.subplots(figsize=(1.2 + 0.8 * len(results), 3.4))
    names = [r.name for r in results]
    totals = [r.variance_total for r in results]
    low = [r.variance_total - r.variance_total_ci95[0] for r in results]
    high = [r.variance_total_ci95[1] - r.variance_total for r in results]
    colors = ["C0" if r.unbiased_by_design else "C3" for r in results]
    axis.bar(names, totals, yerr=[low, high], color=colors, capsize=3)
    axis.set_yscale("log")
    axis.set_ylabel("total variance of one estimate")
    axis.tick_params(axis="x", rotation=45)
    axis.grid(alpha=0.3, axis="y")
    _save(fig, plt, path)


def write_sweep_figure(rows, axis_name: str, path: str) -> None:
    """Total variance against the swept parameter, one line per estimator, log scale."""
    plt = _pyplot(path)
    fig, axis = plt.subplots(figsize=(5.5, 3.6))
    for name in dict.fromkeys(r["estimator"] for r in rows):
        points = [(r[axis_name], r["variance_total"]) for r in rows if r["estimator"] == name]
        axis.plot(*zip(*points, strict=True), marker="o", ms=3, lw=1, label=name)
    axis.set_yscale("log")
    axis.set_xlabel(axis_name)
    axis.set_ylabel("total variance of one estimate")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    _save(fig, plt, path)
