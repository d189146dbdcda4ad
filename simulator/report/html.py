"""The report's HTML: the page frame and its style, ids and number formats (the tables are in
:mod:`simulator.report.tables`).

The page has no script, no external stylesheet, font or image and no URL, so it reads offline
and can be mailed as it is. All text from the results is HTML-escaped.
"""

from __future__ import annotations

import re
from html import escape

import numpy as np

STYLE = """
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; margin: 0 auto;
  max-width: 1100px; padding: 1.5em; color: #1a1a1a; line-height: 1.45; }
h1 { border-bottom: 3px solid #1f4e79; padding-bottom: .3em; }
h2 { background: #1f4e79; color: #fff; padding: .35em .6em; margin-top: 2.2em; }
h3 { border-bottom: 1px solid #bbb; margin-top: 1.8em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; box-sizing: border-box; }
figcaption { font-size: .9em; color: #444; }
div.table { overflow-x: auto; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .88em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #eef2f7; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
caption { caption-side: top; text-align: left; font-weight: bold; padding: .3em 0; }
details { margin: .4em 0; } summary { cursor: pointer; font-weight: bold; }
details.table > summary { font-weight: normal; color: #1f4e79; }
span.ci { color: #555; font-size: .85em; }
p.verdict { font-size: 1.05em; border-left: 4px solid #1f4e79; padding: .2em .8em;
  background: #f3f6fa; }
#provenance td { overflow-wrap: anywhere; }
@media (min-width: 901px) { td:first-child { white-space: nowrap; } }
@media (max-width: 900px) { body { padding: .8em; } table { font-size: .78em; }
  th, td { padding: .2em .35em; } }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .82em; }
nav ul { columns: 2; } .note { color: #555; font-size: .9em; }
"""


def page(title: str, subtitle: str, body: str) -> str:
    """The whole document around ``body``."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header>"
        f"<main>{body}</main></body></html>\n"
    )


class Ids:
    """HTML ids and file stems from arbitrary names: lower-case slugs, made unique."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, *parts: str) -> str:
        slug = "-".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") or "x" for p in parts)
        name, i = slug, 2
        while name in self.used:
            name, i = f"{slug}-{i}", i + 1
        self.used.add(name)
        return name


def pct(x: float, digits: int = 2) -> str:
    return "n/a" if not np.isfinite(x) else f"{x * 100:.{digits}f}%"


def lvl(level: float) -> str:
    """0.99 -> "99%", 0.999 -> "99.9%"."""
    return f"{round(level * 100, 6):g}%"


def pp(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x * 100:+.3f} pp"


def cny(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:,.0f}"


def state_label(state: str) -> str:
    match = re.fullmatch(r"dpd_(\d+)_(\d+)", state)
    return f"{match[1]}-{match[2]} DPD" if match else state.replace("_", " ")
