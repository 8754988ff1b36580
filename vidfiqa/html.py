"""Self-contained HTML pages: images inline as data URIs, no scripts or styles from elsewhere, so
a report is one file that opens anywhere, offline.

Each page carries a few lines of script that, once loaded, count images that failed to decode
and write the count to ``<body data-broken-images>``; the browser test reads it back.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable

import numpy as np
from PIL import Image

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; } h3 { font-size: 15px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.meta { color: #555; }
img { display: block; }
"""

_CHECK = """
window.addEventListener("load", () => {
  const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).length;
  document.body.dataset.brokenImages = String(broken);
  document.body.dataset.images = String(document.images.length);
});
"""


def esc(value: object) -> str:
    return html.escape(str(value))


def png_uri(image: np.ndarray | Image.Image) -> str:
    """A ``data:image/png`` URI of an RGB uint8 ``(H, W, 3)`` array or a PIL image."""
    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def figure_uri(fig: object) -> str:
    """A ``data:image/png`` URI of a matplotlib ``Figure`` (made without pyplot, so nothing is
    left open)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)  # type: ignore[attr-defined]
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def img(uri: str, alt: str, width: int | None = None) -> str:
    size = f' width="{width}"' if width else ""
    return f'<img src="{uri}" alt="{esc(alt)}"{size}>'


def table(headers: list[str], rows: Iterable[list[str]], numeric: set[int] | None = None) -> str:
    """Cells are HTML already (escape text with :func:`esc`); ``numeric`` columns align right."""
    numeric = numeric or set()
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i in numeric else ''}>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{esc(title)}</h1>{body}<script>{_CHECK}</script></body></html>\n"
    )
