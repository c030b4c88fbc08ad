"""Issue 20: every command's table is complete at 80 columns and up, its legend short.

Rich takes its console width from COLUMNS (piped output, as here, is otherwise laid out wide), so
each command is rendered at 80, 100 and 160 columns: every column header and every row's name
must appear in full (no column dropped, no "…"), and no line may be wider than the console.
"""

import re

import pytest

from carms_cli.present.table import TableColumn, split_columns

WIDTHS = [80, 100, 160]
VARIANCE = ["variance", "-k", 10, "-n", 4, "-t", 2_000, "-e", "reinforce,loorf,carms,carms-sb-gauss,carms-ref"]
VARIANCE_HEADERS = [
    "estimator",
    "bias",
    "max|z| (thr)",
    "var total ±95%",
    "÷loorf",
    "med ln var",
    "distinct",
    "exact",
    "P(dup)",
    "evals",
    "var×evals",
    "M trials/s",
]


def _at(cli, monkeypatch, width, *args):
    monkeypatch.setenv("COLUMNS", str(width))
    result = cli(*args)
    assert result.code == 0, result.err
    return result.out


def _complete(out, width, headers, names, ellipses=0):
    """Assert that the output fits the width, names every header and starts a row with every name.

    ``ellipses``: how many "…" the content itself has (none was added by cutting a cell short).
    """
    assert out.count("…") == ellipses
    assert max(len(line) for line in out.splitlines()) <= width
    for header in headers:
        assert header in out, header
    for name in names:
        assert re.search(rf"^ {re.escape(name)}(\s|$)", out, re.M), name


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Two variance records for ``carms compare``."""
    from carms_cli.cli.app import main

    folder = tmp_path_factory.mktemp("compare")
    for name, trials in (("baseline", 4_000), ("current", 2_000)):
        args = ["variance", "-k", 5, "-n", 3, "-e", "loorf,carms,carms-sb-gauss", "-t", trials, "-q"]
        assert main([str(a) for a in args] + ["--json", str(folder / f"{name}.json")]) == 0
    return folder


@pytest.mark.parametrize("width", WIDTHS)
def test_variance_is_complete_at_every_width(cli, monkeypatch, width):
    out = _at(cli, monkeypatch, width, *VARIANCE, "--exact")
    names = [e["name"] for e in cli(*VARIANCE, "--json", "-").json()["estimators"]]
    _complete(out, width, [*VARIANCE_HEADERS, "exact var", "z(var)"], names)
    tables = len(re.findall(r"^ estimator ", out, re.M))
    assert tables == {80: 3, 100: 3, 160: 2}[width]
    # every estimator has two untested coordinates at 2,000 trials: said once, naming them all
    words = " ".join(out.split())
    assert words.count("coordinates not bias-tested") == 1
    assert "reinforce, loorf, carms, carms-sb-gauss, carms-ref: 2 of 10 coordinates not bias-tested" in words
    assert out.count("exact variance n/a") == 0  # the Gaussian copula's n-tuple pmfs are exact too (issue 18)


def test_the_legend_is_short_and_explains_the_columns_shown(cli, monkeypatch):
    out = _at(cli, monkeypatch, 80, *VARIANCE[:-2])
    legend = out[out.index("bias: mean vs exact gradient") : out.index("lowest total variance")].splitlines()
    assert len(legend) <= 5 and legend[-1].endswith("more: --explain")
    assert all(len(line) <= 80 for line in legend)
    assert "exact var" not in out and "z(var)" not in out  # no --exact: neither column nor legend entry
    assert "biased by design" not in out  # no estimator biased by design among the defaults
    with_ref = _at(cli, monkeypatch, 80, *VARIANCE)
    assert "*: biased by design" in with_ref and "ok* (2 untested)" in with_ref


def test_explain_gives_every_column_in_full(cli, monkeypatch):
    out = _at(cli, monkeypatch, 100, *VARIANCE[:-2], "--explain")
    for header in VARIANCE_HEADERS:
        assert re.search(rf"(^|; ){re.escape(header.split()[0])}[^;]*: ", out, re.M), header
    assert "exact var (--exact)" in out and "Bonferroni" in out and "more: --explain" not in out
    assert "untested: coordinates whose category is expected fewer than 100 times" in out


def test_piped_output_is_one_wide_table_unless_columns_is_set(cli, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    out = cli(*VARIANCE, "--exact").out
    assert len(re.findall(r"^ estimator ", out, re.M)) == 1
    assert max(len(line) for line in out.splitlines()) > 160


def test_below_80_columns_what_is_left_out_is_said_once(cli, monkeypatch):
    out = _at(cli, monkeypatch, 28, *VARIANCE[:-2])
    words = " ".join(out.split())
    assert words.count("not shown at 28 columns: bias, var total ±95%") == 1 and "less -S" in words
    assert "untested)" not in out and "var total:" not in out  # nor in the legend
    assert "max|z| (thr)" in out and "M trials/s" in out  # the others are stacked


@pytest.mark.parametrize("width", WIDTHS)
def test_exact_is_complete(cli, monkeypatch, width, problem_a_file):
    args = ["exact", "--probs", "0.7,0.2,0.07,0.03", "-o", f"file:{problem_a_file}", "-n", 3]
    args += ["-e", "loorf,carms,carms-sb-gauss,carms-ref,arsm,gumbel-softmax:0.5"]
    out = _at(cli, monkeypatch, width, *args)
    record = cli(*args, "--json", "-").json()
    names = [e["name"] + ("" if e["unbiased_by_design"] else "*") for e in record["estimators"]]
    _complete(out, width, ["estimator", "max|E g − ∇|", "exact var total", "÷loorf", "med ln var", "note"], names)
    # the notes, wrapped at 80, still say everything
    words = " ".join(out.split())
    for entry in record["estimators"]:
        if entry["note"]:
            assert all(word in words for word in entry["note"].split())


@pytest.mark.parametrize("width", WIDTHS)
def test_list_is_complete(cli, monkeypatch, width):
    out = _at(cli, monkeypatch, width, "list")
    record = cli("list", "--json", "-").json()
    headers = ["estimator", "construction", "copula", "default", "unbiased by design", "summary", "objective", "f(z)"]
    names = [e["name"] for e in record["estimators"]] + [o["name"] for o in record["objectives"]]
    names += [e["name"] for e in record["continuous_estimators"]] + [o["name"] for o in record["continuous_objectives"]]
    headers += ["continuous estimator", "distributions", "continuous objective", "f(x)"]
    # "K×…×K" in file:PATH; "poly:c0,c1,…" and "quad-form:w1,…,wD" are names
    _complete(out, width, [*headers, "coupling of the n samples"], names, ellipses=3)


@pytest.mark.parametrize("width", WIDTHS)
def test_pmf_is_complete(cli, monkeypatch, width):
    out = _at(cli, monkeypatch, width, "pmf", "-k", 12, "-n", 3)
    categories = [str(b) for b in range(12)]
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= width
    header_rows = [line.split()[1:] for line in out.splitlines() if line.startswith(" a\\b")]
    per_matrix = [b for row in header_rows for b in row]
    assert per_matrix == categories * 3  # three matrices, every category column once each
    rows = [line.split()[0] for line in out.splitlines() if re.match(r"^ +\d+ ", line)]
    assert rows == categories * len(header_rows)  # every row in every block


@pytest.mark.parametrize("width", WIDTHS)
def test_duplicates_is_complete(cli, monkeypatch, width):
    args = ["duplicates", "--probs", "0.4,0.1,0.2,0.3", "-n", 3, "-t", 2_000]
    out = _at(cli, monkeypatch, width, *args)
    names = [s["sampler"] for s in cli(*args, "--json", "-").json()["samplers"]]
    headers = ["sampler", "distinct", "(MC)", "P(all distinct)", "coincident pairs", "cache saves"]
    _complete(out, width, headers, names)
    # every sampled column stays beside its exact one
    for line in out.splitlines():
        if line.startswith(" sampler"):
            titles = re.split(r"\s{2,}", line.strip())[1:]
            assert len(titles) % 2 == 0 and all(title == "(MC)" for title in titles[1::2]), titles


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_is_complete(cli, monkeypatch, width, records):
    out = _at(cli, monkeypatch, width, "compare", records / "baseline.json", records / "current.json")
    headers = ["estimator", "status", "var baseline", "var current", "ratio", "z", "bias"]
    _complete(out, width, headers, ["loorf", "carms", "carms-sb-gauss"])


@pytest.mark.parametrize("width", WIDTHS)
def test_sweep_is_complete(cli, monkeypatch, width):
    args = ["sweep", "-k", 10, "-n", "2,3", "-e", "loorf,carms-sb-gauss", "-t", 2_000]
    out = _at(cli, monkeypatch, width, *args)
    headers = ["K", "n", "D", "α", "objective", "estimator", "bias", "var total", "÷loorf", "re-run alone"]
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= width
    for header in headers:
        assert header in out
    assert len(re.findall(r"^ 10   [23]   1   1   linear      carms-sb-gauss ", out, re.M)) >= 2
    words = " ".join(out.split())
    assert "--seed" in words and words.count("-e loorf,carms-sb-gauss") >= 4


@pytest.mark.parametrize("width", WIDTHS)
def test_train_is_complete(cli, monkeypatch, width):
    out = _at(cli, monkeypatch, width, "train", "--samples", 2, "--steps", 5, "--replicates", 50)
    headers = ["n", "estimator", "steps", "final p", "variance", "exact", "÷loorf"]
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= width
    for header in headers:
        assert header in out
    for name in ("loorf", "arm", "disarm", "arms", "arms-gauss"):
        assert re.search(rf"^ n=2\s+{name}\s", out, re.M), name


@pytest.mark.parametrize("width", WIDTHS)
def test_bench_is_complete(cli, monkeypatch, width):
    args = ["bench", "-k", 4, "-n", 3, "-t", 5_000, "--numpy-trials", 1_000, "-r", 1, "--no-startup"]
    out = _at(cli, monkeypatch, width, *args, "-e", "loorf,carms-sb")
    headers = ["estimator", "uniforms", "trials numba/numpy", "numba M/s", "numpy M/s", "ratio", "bound M/s"]
    _complete(out, width, [*headers, "numba/bound", "numpy/bound"], ["loorf", "carms-sb"])


def _column(letter, width):
    return TableColumn(letter * width, [])


def test_split_columns_keeps_groups_together_and_leaves_out_what_cannot_fit():
    key = _column("k", 10)
    a, b, c, d = (_column(letter, width) for letter, width in zip("abcd", (10, 10, 30, 60), strict=True))
    # 10 + 10 + 10 + 3·2 + 2 = 38
    assert split_columns([key], [[a, b]], 38) == ([[a, b]], [])
    # too narrow for the group: split into its columns
    assert split_columns([key], [[a, b]], 37) == ([[a], [b]], [])
    # groups packed in order, as few tables as fit; a column wider than the room left out
    tables, left_out = split_columns([key], [[a], [b, c], [d]], 60)
    assert tables == [[a], [b, c]] and left_out == [d]


@pytest.mark.parametrize("width", WIDTHS)
def test_another_familys_report_is_laid_out_from_its_own_columns(capsys, monkeypatch, width):
    """The layout reads the Report's columns, not the discrete family's: the contract test's
    Bernoulli family (a column without a short note) is complete too, its legend line standing in."""
    from carms_cli.present.table import print_report
    from tests.test_contract import _report

    report = _report(trials=6_000)
    report.config["threads"] = 1
    monkeypatch.setenv("COLUMNS", str(width))
    print_report(report)
    out = capsys.readouterr().out
    headers = ["estimator", "bias", "max|z| (thr)", "var total ±95%", "exact var", "z(var)", "÷score", "ones"]
    _complete(out, width, [*headers, "evals", "var×evals", "M trials/s"], ["score", "score-baseline"])
    assert "ones: share of ones" in out and "distinct" not in out


@pytest.mark.parametrize("width", WIDTHS)
def test_continuous_is_complete_at_every_width(cli, monkeypatch, width):
    args = ["continuous", "--dist", "gamma", "--alpha", "0.5,3", "-o", "square:1", "-t", 2_000, "-e", "all"]
    out = _at(cli, monkeypatch, width, *args, "--exact")
    names = [e["name"] for e in cli(*args, "--json", "-").json()["estimators"]]
    headers = ["estimator", "bias", "max|z| (thr)", "var total ±95%", "exact var", "z(var)", "÷score", "med ln var",
               "rejects/trial", "evals", "var×evals", "M trials/s"]
    _complete(out, width, headers, names)
