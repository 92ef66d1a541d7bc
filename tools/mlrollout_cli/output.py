"""Tables for people and for pipes, one way for every command.

On a terminal: a table whose identifiers and verdicts never wrap (a deployment id broken over two lines cannot be
copied), the other columns folding, and the long text of each row (a reason) in full on its own line under the
table, never cut. Piped (stdout not a terminal): a header and one tab-separated line per row, every value whole, the
long text as the last field, for `cut`, `awk` and spreadsheets; `--json` stays the way to get everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True)
class Column:
    name: str
    keep: bool = False  # never wrapped: ids, versions, verdicts, times
    right: bool = False  # numbers, aligned on the right on a terminal


def _clean(value: str) -> str:
    return " ".join(str(value).split())


def show_table(
    title: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    long: str | None = None,
    long_values: Sequence[str] | None = None,
    key: int = 0,
    console: Console | None = None,
) -> None:
    """`rows` of `columns`; `long_values` (one per row, named `long`) printed whole: under the table on a terminal,
    each after its row's `key` column, or as the last tab-separated field when piped."""
    console = console or Console()
    texts = list(long_values) if long_values is not None else []
    if not console.is_terminal:
        header = [c.name for c in columns] + ([long] if long else [])
        console.file.write("\t".join(header) + "\n")
        for index, row in enumerate(rows):
            fields = [_clean(v) for v in row] + ([_clean(texts[index])] if long else [])
            console.file.write("\t".join(fields) + "\n")
        return
    widths = [
        max([len(c.name), *(len(str(row[i])) for row in rows)]) if c.keep else None for i, c in enumerate(columns)
    ]
    # A table's borders and padding take 3 characters a column; with the whole ids it would not fit: one block a row.
    if sum(w for w in widths if w) + 3 * len(columns) + 1 > console.width:
        console.print(title, style="bold", highlight=False, markup=False)
        for index, row in enumerate(rows):
            for column, value in zip(columns, row, strict=True):
                console.print(f"{column.name}: {value}", soft_wrap=True, highlight=False, markup=False)
            if long and texts[index]:
                console.print(f"{long}: {texts[index]}", soft_wrap=True, highlight=False, markup=False)
            console.print()
        return
    table = Table(title=title)
    for column, widest in zip(columns, widths, strict=True):
        table.add_column(
            column.name,
            no_wrap=column.keep,
            min_width=widest,
            overflow="fold",
            justify="right" if column.right else "left",
        )
    for row in rows:
        table.add_row(*(Text(str(v)) for v in row))  # values are data, never markup
    console.print(table)
    if long:
        for row, text in zip(rows, texts, strict=True):
            if text:
                console.print(f"{row[key]}: {text}", soft_wrap=True, highlight=False, markup=False)
