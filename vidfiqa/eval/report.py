"""Evaluation outputs: results.json, a Markdown table like the papers' tables, ROC and EDC plots."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from vidfiqa.eval.protocols import ProtocolResult, roc_points

_COUNTS = ("genuine", "impostor", "pairs")


def _fmt(value: float, *, percent: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * value:.2f}" if percent else f"{value:.4f}"


def column_label(column: str) -> str:
    """The header of a metric column: what ± means for accuracy, raw or normalised for pAUC.

    >>> column_label("accuracy"), column_label("pauc20"), column_label("pauc30_norm")
    ('accuracy ± SE', 'pAUC20 raw', 'pAUC30 norm')
    """
    if column == "accuracy":
        return "accuracy ± SE"
    if column.startswith("pauc"):
        limit, _, norm = column[4:].partition("_")
        return f"pAUC{limit} {'norm' if norm else 'raw'}"
    return column


def cell(metrics: dict[str, Any], column: str) -> str:
    """One table cell: counts as integers, rates (TAR, accuracy, EER, AUC) in percent, accuracy
    with its standard error, areas as decimals."""
    v = metrics.get(column, float("nan"))
    if column in _COUNTS:
        return "n/a" if v is None or math.isnan(v) else str(int(v))
    if column == "accuracy" and "accuracy_se" in metrics:
        return f"{_fmt(v, percent=True)} ± {_fmt(metrics['accuracy_se'], percent=True)}"
    return _fmt(v, percent=column.startswith(("tar", "accuracy", "eer", "auc")))


def legend(columns: list[str]) -> list[str]:
    """What the table's numbers are, one sentence per kind of column."""
    lines = ["Rates (TAR, accuracy, EER, AUC) in percent; genuine and impostor: pairs scored."]
    if "accuracy" in columns:
        lines.append(
            "accuracy: mean ± standard error (SE) over the folds; results.json also gives "
            "accuracy_std, the ± standard deviation most YouTube Faces papers report."
        )
    if any(c.startswith("pauc") for c in columns):
        lines.append(
            "pAUC20/30 raw: area under the EDC up to 20%/30% of mated comparisons discarded; norm: "
            "divided by the FNMR at 0 discard (0.20/0.30 = discarding did not help; lower is better)."
        )
    return lines


def markdown_table(rows: list[dict[str, Any]], columns: list[str], caution: str | None = None) -> str:
    """Rows = scorer x strategy, columns = metrics (see :func:`cell`), then the legend and, when
    the counts are small, the caution."""
    head = "| scorer | strategy | " + " | ".join(column_label(c) for c in columns) + " |"
    sep = "|" + "---|" * (len(columns) + 2)
    lines = [head, sep]
    for r in rows:
        cells = [cell(r["metrics"], c) for c in columns]
        lines.append(f"| {r['scorer']} | {r['strategy']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += legend(columns)
    if caution:
        lines += ["", f"**Caution: {caution}.**"]
    return "\n".join(lines) + "\n"


def roc_figure(results: dict[tuple[str, str], ProtocolResult]) -> Figure:
    """The ROC of every result, TAR on a fixed [0, 1] axis (a curve at TAR 1 sits on the top
    edge, drawn over it, rather than the axis zooming to 0.96-1.04)."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    for (scorer, strategy), r in results.items():
        far, tar = roc_points(r)
        keep = far > 0
        ax.plot(far[keep], tar[keep], label=f"{scorer} / {strategy}", clip_on=False)
    ax.set(xscale="log", xlabel="FAR", ylabel="TAR", title="ROC")
    ax.set_ylim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def edc_figure(results: dict[tuple[str, str], ProtocolResult]) -> Figure:
    """The EDC of every result whose curve is defined; undefined ones are named on the plot, and
    with none defined the plot is a sentence saying why, not an empty axis."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    fmr = next(iter(results.values())).metrics["edc_fmr"] if results else float("nan")
    undefined = []
    for (scorer, strategy), r in results.items():
        e = r.curve
        if e is None or not len(e.fnmr) or np.isnan(e.fnmr).all():
            undefined.append(f"{scorer} / {strategy}")
            continue
        ax.step(e.discard, e.fnmr, where="post", label=f"{scorer} / {strategy}")
    if undefined and len(undefined) == len(results):
        impostors = int(next(iter(results.values())).metrics.get("impostor", 0)) if results else 0
        ax.set_axis_off()
        ax.text(
            0.5,
            0.5,
            f"EDC undefined: FMR {fmr:g} needs at least {math.ceil(1 / fmr)} impostor pairs\n"
            f"({impostors} here); pass a larger --edc-fmr",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_title("EDC")
    else:
        ax.set(xlabel="fraction of mated comparisons discarded", ylabel=f"FNMR at FMR {fmr:g}", title="EDC")
        ax.set_xlim(0, 1)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        if undefined:
            ax.text(0.02, 0.02, "undefined: " + ", ".join(undefined), transform=ax.transAxes, fontsize=7)
    fig.tight_layout()
    return fig


def write_report(
    out: Path,
    meta: dict[str, Any],
    results: dict[tuple[str, str], ProtocolResult],
    columns: list[str],
    *,
    html: bool = False,
    caution: str | None = None,
) -> dict[str, Path]:
    """Write ``results.json``, ``results.md``, ``roc.png`` and ``edc.png`` into ``out``, and with
    ``html`` also ``results.html`` (all of it in one self-contained page). ``caution`` (a small
    sample) goes under both tables and into the JSON."""
    out.mkdir(parents=True, exist_ok=True)
    rows = [
        {"scorer": scorer, "strategy": strategy, "metrics": r.metrics, "missing": r.missing}
        for (scorer, strategy), r in results.items()
    ]
    paths = {
        "json": out / "results.json",
        "md": out / "results.md",
        "roc": out / "roc.png",
        "edc": out / "edc.png",
    }
    data = {**meta, "caution": caution, "results": rows}
    clean = json.loads(json.dumps(data, default=float).replace("NaN", "null"))
    paths["json"].write_text(json.dumps(clean, indent=1) + "\n")
    title = f"# {meta.get('title', 'Evaluation')}\n\n"
    notes = "".join(
        f"- {k}: {v}\n" for k, v in meta.items() if k != "title" and not isinstance(v, dict | list)
    )
    paths["md"].write_text(title + notes + "\n" + markdown_table(rows, columns, caution))
    for name, figure in (("roc", roc_figure), ("edc", edc_figure)):
        fig = figure(results)
        fig.savefig(paths[name], dpi=120)
    if html:
        paths["html"] = out / "results.html"
        page_text = html_page(meta, rows, columns, paths["roc"], paths["edc"], caution)
        paths["html"].write_text(page_text, encoding="utf-8")
    return paths


def html_page(
    meta: dict[str, Any],
    rows: list[dict[str, Any]],
    columns: list[str],
    roc: Path,
    edc_png: Path,
    caution: str | None = None,
) -> str:
    """The results table and the ROC and EDC plots as one self-contained page."""
    from PIL import Image

    from vidfiqa.html import esc, img, page, png_uri, table

    notes = table(
        ["setting", "value"],
        ([esc(k), esc(v)] for k, v in meta.items() if k != "title" and not isinstance(v, dict | list)),
    )
    cells = [
        [esc(r["scorer"]), esc(r["strategy"]), *(esc(cell(r["metrics"], c)) for c in columns)] for r in rows
    ]
    heads = ["scorer", "strategy", *(column_label(c) for c in columns)]
    results = table(heads, cells, numeric=set(range(2, 2 + len(columns))))
    plots = "".join(
        f"<h2>{name}</h2>" + img(png_uri(Image.open(path).convert("RGB")), name)
        for name, path in (("ROC", roc), ("EDC", edc_png))
    )
    text = "".join(f"<p class=meta>{esc(line)}</p>" for line in legend(columns))
    if caution:
        text += f"<p class=caution><strong>Caution: {esc(caution)}.</strong></p>"
    return page(str(meta.get("title", "Evaluation")), notes + "<h2>Results</h2>" + results + text + plots)
