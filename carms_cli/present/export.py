"""Report → JSON and CSV (no Rich here: scripts read these, people read the table)."""

import csv
import io
import json

from carms_cli.core.records import Report, plain, report_record

#: Shared CSV columns before the family's own (a family's columns follow ``median_log_variance``).
CSV_HEAD = [
    "name",
    "unbiased_by_design",
    "unbiased",
    "bias_max_abs_z",
    "bias_threshold_z",
    "bias_tested_coordinates",
    "variance_total",
    "variance_total_ci95_low",
    "variance_total_ci95_high",
    "variance_ratio_to_loorf",
    "median_log_variance",
]
#: Shared CSV columns after the family's own.
CSV_TAIL = [
    "evaluations_per_estimate",
    "trials",
    "wall_seconds",
    "trials_per_second",
    "variance_times_evaluations",
    "seconds_per_estimate",
    "variance_exact_total",
    "variance_exact_z_max",
    "bias_exact_max_abs",
    "exact_note",
]


def csv_fields(report: Report) -> list[str]:
    """Return the CSV header of a report: shared columns around the family's."""
    return CSV_HEAD + [column.csv for column in report.columns if column.csv] + CSV_TAIL


def to_json(report: Report) -> str:
    """Return the JSON record of a run (see :func:`carms_cli.core.records.report_record`)."""
    return json.dumps(report_record(report), indent=2, ensure_ascii=False) + "\n"


def to_csv(report: Report) -> str:
    """One row per estimator with the scalar fields of :func:`csv_fields`."""
    from carms_cli.core.records import lookup

    fields = csv_fields(report)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for entry in report_record(report)["estimators"]:
        row = {key: entry.get(key) for key in fields}
        row["variance_total_ci95_low"], row["variance_total_ci95_high"] = entry["variance_total_ci95"]
        for column in report.columns:
            if column.csv:
                row[column.csv] = lookup(entry, column.path)
        writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return buffer.getvalue()


def plain_json(record: dict) -> str:
    """JSON text of a record with numpy values (non-finite numbers become null)."""
    return json.dumps(plain(record), indent=2, ensure_ascii=False) + "\n"


TRAIN_CSV_FIELDS = [
    "samples", "estimator", "step", "p", "phi", "mean_gradient", "exact_gradient", "variance", "variance_exact"
]  # fmt: skip


def train_csv(record) -> str:
    """One CSV row per (n, estimator, step) of a :class:`~carms_cli.analysis.train.TrainRecord`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TRAIN_CSV_FIELDS)
    for t in record.trajectories:
        for step, row in enumerate(
            zip(t.p, t.phi, t.mean_gradient, t.exact_gradient, t.variance, t.variance_exact, strict=True)
        ):
            writer.writerow([t.samples, t.estimator, step, *["" if v is None else v for v in row]])
    return buffer.getvalue()


VAE_CSV_FIELDS = [
    "seed", "estimator", "samples", "step", "train_neg_elbo", "test_neg_elbo", "train_neg_bound", "test_neg_bound",
    "log10_variance", "variance_ratio_to_loorf", "encoder_param_log10_variance",
    "encoder_param_variance_ratio_to_loorf", "ms_per_step",
]  # fmt: skip


def vae_csv(record) -> str:
    """One CSV row per (seed, estimator, checkpoint) of a :class:`~carms_cli.analysis.vae.VaeRecord`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(VAE_CSV_FIELDS)
    for run in record.runs:
        for row in run.checkpoints:
            checkpoint = [row[key] for key in VAE_CSV_FIELDS[3:-1]]
            values = [run.seed, run.estimator, run.samples, *checkpoint, run.ms_per_step]
            writer.writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


VAE_VARIANCE_CSV_FIELDS = [
    "estimator", "samples", "replicates", "variance_total", "variance_ci95_low", "variance_ci95_high",
    "variance_ratio_to_loorf", "variance_times_evaluations", "bias_reference", "max_abs_z", "threshold", "biased",
    "encoder_param_variance_total", "encoder_param_variance_ci95_low", "encoder_param_variance_ci95_high",
    "encoder_param_variance_ratio_to_loorf", "encoder_param_variance_times_evaluations",
]  # fmt: skip


def vae_variance_csv(record) -> str:
    """One CSV row per (n, estimator) of a :class:`~carms_cli.analysis.vae.VaeVarianceRecord`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(VAE_VARIANCE_CSV_FIELDS)
    for row in record.rows:
        low, high = row.variance_ci95
        param_low, param_high = row.encoder_param_variance_ci95
        values = [row.estimator, row.samples, row.replicates, row.variance_total, low, high,
                  row.variance_ratio_to_loorf, row.variance_times_evaluations, row.bias_reference, row.max_abs_z,
                  row.threshold, row.biased, row.encoder_param_variance_total, param_low, param_high,
                  row.encoder_param_variance_ratio_to_loorf, row.encoder_param_variance_times_evaluations]  # fmt: skip
        writer.writerow(["" if v is None else v for v in values])
    return buffer.getvalue()
