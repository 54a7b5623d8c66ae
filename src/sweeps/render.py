"""The report's blocks as Markdown or as one self-contained HTML page (images linked by file name)."""

from __future__ import annotations

import html
import re

Block = tuple  # ("h1" | "h2" | "p", text) | ("img", alt, file) | ("ul", items) | ("table", header, rows)
STYLE = (
    "body{font-family:sans-serif;max-width:1200px;margin:2em auto;line-height:1.4}"
    "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:3px 8px}td{text-align:right}"
    "td:first-child{text-align:left}img{max-width:100%;display:block;margin:1em 0}"
)


def to_markdown(blocks: list[Block]) -> str:
    """The blocks as Markdown; a table's first column is left-aligned, the others right-aligned."""
    parts = []
    for kind, *args in blocks:
        if kind in ("h1", "h2"):
            parts.append(f"{'#' * int(kind[1])} {args[0]}")
        elif kind == "p":
            parts.append(args[0])
        elif kind == "img":
            parts.append(f"![{args[0]}]({args[1]})")
        elif kind == "ul":
            parts.append("\n".join(f"- {item}" for item in args[0]))
        elif kind == "table":
            header, rows = args
            lines = [header, ["---", "---:"] + ["---:"] * (len(header) - 2), *rows]
            parts.append("\n".join("| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in lines))
    return "\n\n".join(parts) + "\n"


def inline_html(text: str) -> str:
    """Escape, then the two Markdown marks the report uses: `code` and **bold** (and e\\* for a plain star)."""
    text = html.escape(text).replace("\\*", "&#42;")
    text = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def to_html(blocks: list[Block]) -> str:
    """The blocks as one HTML page titled by the first h1, styled inline."""
    title = next(args[0] for kind, *args in blocks if kind == "h1")
    parts = [f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>']
    parts.append(f"<style>{STYLE}</style></head><body>")
    for kind, *args in blocks:
        if kind in ("h1", "h2", "p"):
            parts.append(f"<{kind}>{inline_html(args[0])}</{kind}>")
        elif kind == "img":
            parts.append(f'<img src="{html.escape(args[1])}" alt="{html.escape(args[0])}">')
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{inline_html(i)}</li>" for i in args[0]) + "</ul>")
        elif kind == "table":
            header, rows = args
            cells = ["<tr>" + "".join(f"<th>{inline_html(c)}</th>" for c in header) + "</tr>"]
            cells += ["<tr>" + "".join(f"<td>{inline_html(c)}</td>" for c in row) + "</tr>" for row in rows]
            parts.append("<table>" + "".join(cells) + "</table>")
    return "\n".join([*parts, "</body></html>"]) + "\n"
