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


#: How a reported parameter is named on a panel of the continuous sweep's figure.
PARAMETER_LABELS = {"mu": "μ", "sigma": "σ", "log-sigma": "log σ", "rate": "rate", "all": "all parameters"}


def draw_continuous_sweep(axes, rows, x_field: str, log_x: bool = False, panel_field: str = "param") -> None:
    """Draw the continuous sweep's panels on ``axes`` (one per ``panel_field`` value, in row order).

    In each panel: the variance of one estimate against ``x_field`` (log y), one colour per
    estimator; the exact variance (by quadrature) as a line and the Monte Carlo variance as
    markers with their 95% intervals, where the rows have them.
    """
    panels = list(dict.fromkeys(r[panel_field] for r in rows))
    names = list(dict.fromkeys(r["estimator"] for r in rows))
    for axis, panel in zip(axes, panels, strict=True):
        for index, name in enumerate(names):
            chosen = sorted(
                (r for r in rows if r[panel_field] == panel and r["estimator"] == name), key=lambda r: r[x_field]
            )
            color = f"C{index}"
            exact = [(r[x_field], r["variance_exact_total"]) for r in chosen if (r["variance_exact_total"] or 0) > 0]
            sampled = [r for r in chosen if r["variance_total"] is not None and r["variance_total"] > 0]
            if exact:
                axis.plot(*zip(*exact, strict=True), color=color, lw=1.4, label=name)
            if sampled:
                x = [r[x_field] for r in sampled]
                y = [r["variance_total"] for r in sampled]
                low = [max(r["variance_total"] - (r["variance_total_ci95_low"] or 0.0), 0.0) for r in sampled]
                high = [(r["variance_total_ci95_high"] or r["variance_total"]) - r["variance_total"] for r in sampled]
                axis.errorbar(
                    x,
                    y,
                    yerr=[low, high],
                    fmt="o",
                    ms=3,
                    color=color,
                    elinewidth=0.8,
                    capsize=1.5,
                    label=None if exact else name,
                )
        axis.set_yscale("log")
        shown = [
            v
            for r in rows
            if r[panel_field] == panel
            for v in (r["variance_exact_total"], r["variance_total_ci95_low"], r["variance_total"])
            if v is not None and v > 0
        ]
        if shown:  # an exact zero (MVD-μ of the square at k = μ) would stretch the axis to 1e-32
            axis.set_ylim(bottom=max(min(shown), max(shown) * 1e-5) / 2)
        if log_x:
            from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

            axis.set_xscale("log")
            axis.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel(x_field)
        axis.set_title(f"gradient w.r.t. {PARAMETER_LABELS.get(panel, panel)}", fontsize=10)
        axis.grid(alpha=0.3, which="both", lw=0.5)
    axes[0].set_ylabel("variance of one estimate")


def write_continuous_sweep_figure(rows, x_field: str, path: str, log_x: bool = False) -> None:
    """Write the continuous sweep's figure: one panel per reported parameter (see :func:`draw_continuous_sweep`)."""
    plt = _pyplot(path)
    panels = list(dict.fromkeys(r["param"] for r in rows))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    draw_continuous_sweep(axes[0], rows, x_field, log_x)
    first = rows[0]
    values = ", ".join(
        f"{name} = {first[name]:g}"
        for name in ("mu", "sigma", "rate", "alpha")
        if name in first and len({r[name] for r in rows}) == 1
    )
    sampled = any(r["variance_total"] is not None for r in rows)
    exact = any(r["variance_exact_total"] is not None for r in rows)
    how = " · ".join(
        [
            text
            for text, shown in (("lines: exact (quadrature)", exact), ("markers: Monte Carlo, 95% CI", sampled))
            if shown
        ]
    )
    fig.suptitle(
        f"{first['distribution']}({values}) · objective {first['objective']} · n = {first['samples']} · {how}",
        fontsize=9,
    )
    axes[0][-1].legend(fontsize=8)
    _save(fig, plt, path)


def write_vae_figure(record, path: str) -> None:
    """Three panels against the training step: train −ELBO, test −k-sample bound, log10 logit-gradient variance.

    One colour per estimator, one line per seed; the exact-gradient reference black and dashed
    (its variance is 0: no points in the third panel).
    """
    plt = _pyplot(path)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    panels = (
        ("train_neg_elbo", "train −ELBO"),
        ("test_neg_bound", f"test −bound (k = {record.config.eval_k})"),
        ("log10_variance", "log10 variance of the logit gradient"),
    )
    colors = {name: f"C{index}" for index, name in enumerate(record.config.estimators)}
    colors["exact"] = "k"
    for axis, (key, title) in zip(axes, panels, strict=True):
        for run in record.runs:
            points = [(row["step"], row[key]) for row in run.checkpoints if row[key] is not None]
            if points:
                label = run.estimator if run.seed == record.config.seeds[0] else None
                style = "--" if run.estimator == "exact" else "-"
                axis.plot(*zip(*points, strict=True), color=colors[run.estimator], ls=style, lw=1, label=label)
        axis.set_xlabel("step")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    _save(fig, plt, path)
