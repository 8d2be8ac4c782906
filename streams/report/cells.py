"""Table cells for the report: each number formatted for people, its exact value kept in the
cell's `data-v` attribute (the same value as in the data block), so tests can compare them."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

import orjson

Format = Callable[[Any], str]


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def pct(v: float) -> str:
    return f"{v * 100:.1f} %"


def count(v: int) -> str:
    return f"{v:,}"


def dur(seconds: float) -> str:
    """Seconds for a person: 34 s, 12.5 min, 3.2 h."""
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def two(v: float) -> str:
    return f"{v:.2f}"


def num(v: Any, fmt: Format, *, cls: str = "num", title: str | None = None) -> str:
    """A numeric cell; None (nothing to measure) shows as a dash."""
    attrs = f' class="{cls}"'
    if title:
        attrs += f' title="{esc(title)}"'
    if v is None:
        return f'<td{attrs} data-v="null">–</td>'
    return f'<td{attrs} data-v="{esc(orjson.dumps(v).decode())}">{esc(fmt(v))}</td>'


def text(v: Any) -> str:
    return f"<td>{esc(v if v not in (None, '') else '–')}</td>"


def table(head: Sequence[str], body: Sequence[str], *, table_id: str,
          foot: Sequence[str] = ()) -> str:
    """`body` and `foot` are rows of ready cells (`<td>...</td>...`)."""
    # A header's second line (after "\n") is a note in small print.
    th = "".join("<th>" + esc(h).replace("\n", '<br><span class="sub">') +
                 ("</span>" if "\n" in h else "") + "</th>" for h in head)
    rows = "".join(f"<tr>{r}</tr>" for r in body)
    tfoot = "".join(f"<tr>{r}</tr>" for r in foot)
    return (f'<div class="scroll"><table id="{esc(table_id)}"><thead><tr>{th}</tr></thead>'
            f"<tbody>{rows}</tbody>" + (f"<tfoot>{tfoot}</tfoot>" if foot else "")
            + "</table></div>")


def kpi(label: str, value: Any, fmt: Format, key: str, note: str = "") -> str:
    shown = "–" if value is None else fmt(value)
    raw = esc(orjson.dumps(value).decode())
    extra = f'<div class="note">{esc(note)}</div>' if note else ""
    return (f'<div class="kpi"><div class="label">{esc(label)}</div>'
            f'<div class="value" data-key="{esc(key)}" data-v="{raw}">{esc(shown)}</div>'
            f"{extra}</div>")
