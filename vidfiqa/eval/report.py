"""Evaluation outputs: results.json, a Markdown table like the papers' tables, ROC and EDC plots."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402

from vidfiqa.eval.edc import edc  # noqa: E402
from vidfiqa.eval.protocols import ProtocolResult, roc_points  # noqa: E402


def _fmt(value: float, *, percent: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * value:.2f}" if percent else f"{value:.4f}"


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Rows = scorer x strategy, columns = metrics; rates in percent, areas as decimals."""
    head = "| scorer | strategy | " + " | ".join(columns) + " |"
    sep = "|" + "---|" * (len(columns) + 2)
    lines = [head, sep]
    for r in rows:
        cells = []
        for c in columns:
            v = r["metrics"].get(c, float("nan"))
            if c == "accuracy" and "accuracy_se" in r["metrics"]:
                cells.append(f"{_fmt(v, percent=True)} ± {_fmt(r['metrics']['accuracy_se'], percent=True)}")
            else:
                cells.append(_fmt(v, percent=c.startswith(("tar", "accuracy", "eer", "auc"))))
        lines.append(f"| {r['scorer']} | {r['strategy']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(
    out: Path,
    meta: dict[str, Any],
    results: dict[tuple[str, str], ProtocolResult],
    columns: list[str],
    *,
    html: bool = False,
) -> dict[str, Path]:
    """Write ``results.json``, ``results.md``, ``roc.png`` and ``edc.png`` into ``out``, and with
    ``html`` also ``results.html`` (all of it in one self-contained page)."""
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
    clean = json.loads(json.dumps({**meta, "results": rows}, default=float).replace("NaN", "null"))
    paths["json"].write_text(json.dumps(clean, indent=1) + "\n")
    title = f"# {meta.get('title', 'Evaluation')}\n\n"
    notes = "".join(
        f"- {k}: {v}\n" for k, v in meta.items() if k != "title" and not isinstance(v, dict | list)
    )
    paths["md"].write_text(title + notes + "\n" + markdown_table(rows, columns))

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for (scorer, strategy), r in results.items():
        far, tar = roc_points(r)
        keep = far > 0
        ax.plot(far[keep], tar[keep], label=f"{scorer} / {strategy}")
    ax.set(xscale="log", xlabel="FAR", ylabel="TAR", title="ROC")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(paths["roc"], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for (scorer, strategy), r in results.items():
        e = edc(r.scores, r.labels, r.quality_a, r.quality_b, fmr=r.metrics["edc_fmr"])
        ax.step(e.discard, e.fnmr, where="post", label=f"{scorer} / {strategy}")
    fmr = next(iter(results.values())).metrics["edc_fmr"] if results else float("nan")
    ax.set(xlabel="fraction of mated comparisons discarded", ylabel=f"FNMR at FMR {fmr:g}", title="EDC")
    ax.set_xlim(0, 1)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(paths["edc"], dpi=120)
    plt.close(fig)
    if html:
        paths["html"] = out / "results.html"
        paths["html"].write_text(html_page(meta, rows, columns, paths["roc"], paths["edc"]), encoding="utf-8")
    return paths


def html_page(
    meta: dict[str, Any], rows: list[dict[str, Any]], columns: list[str], roc: Path, edc_png: Path
) -> str:
    """The results table and the ROC and EDC plots as one self-contained page."""
    from PIL import Image

    from vidfiqa.html import esc, img, page, png_uri, table

    notes = table(
        ["setting", "value"],
        ([esc(k), esc(v)] for k, v in meta.items() if k != "title" and not isinstance(v, dict | list)),
    )
    cells = []
    for r in rows:
        values = [
            _fmt(r["metrics"].get(c, float("nan")), percent=c.startswith(("tar", "accuracy", "eer", "auc")))
            for c in columns
        ]
        cells.append([esc(r["scorer"]), esc(r["strategy"]), *values])
    results = table(["scorer", "strategy", *columns], cells, numeric=set(range(2, 2 + len(columns))))
    plots = "".join(
        f"<h2>{name}</h2>" + img(png_uri(Image.open(path).convert("RGB")), name)
        for name, path in (("ROC", roc), ("EDC", edc_png))
    )
    legend = "<p class=meta>Rates (TAR, accuracy, EER, AUC) in percent; pAUC of the EDC as decimals.</p>"
    return page(str(meta.get("title", "Evaluation")), notes + "<h2>Results</h2>" + results + legend + plots)
