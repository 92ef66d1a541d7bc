"""Tables for people and for pipes (mlrollout_cli/output.py): ids and verdicts never wrap on a narrow terminal,
reasons are printed whole, and piped output is one tab-separated line per row."""

from __future__ import annotations

import io

from rich.console import Console

from mlrollout_cli.output import Column, show_table

DEPLOYMENT = "fraud-scorer-33f63dc55f38d8b0a8818eb945258877"
REASON = (
    "Canary v3 is worse than v2 beyond tolerance: a 5XX error rate of 10.68% against 0.20%, bounded over 12 periods "
    "(4419 and 39801 requests); the version is Rejected and the endpoint is back on fraud-scorer-v2."
)
COLUMNS = [Column("deployment", keep=True), Column("outcome", keep=True), Column("note")]
ROWS = [(DEPLOYMENT, "INCONCLUSIVE", "a note that may fold " * 3)]


def render(width: int) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=width, color_system=None)
    show_table("uploads", COLUMNS, ROWS, long="reason", long_values=[REASON], console=console)
    return out.getvalue()


def test_on_a_terminal_ids_and_verdicts_stay_whole_and_the_reason_is_printed_in_full_under_the_table() -> None:
    text = render(120)
    assert f"│ {DEPLOYMENT} │ INCONCLUSIVE │" in text  # a table, neither value broken
    assert f"{DEPLOYMENT}: {REASON}\n" in text  # the reason whole, on its own line


def test_on_a_terminal_too_narrow_for_the_ids_each_row_is_a_block() -> None:
    text = render(50)
    assert f"deployment: {DEPLOYMENT}\noutcome: INCONCLUSIVE\n" in text
    assert f"reason: {REASON}\n" in text
    assert "┃" not in text  # no table cropped at the terminal's edge


def test_piped_output_is_a_header_and_tab_separated_rows_with_values_whole() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=40)
    show_table("uploads", COLUMNS, ROWS, long="reason", long_values=[f"{REASON}\n(second line)"], console=console)
    header, row = out.getvalue().splitlines()
    assert header.split("\t") == ["deployment", "outcome", "note", "reason"]
    assert row.split("\t") == [DEPLOYMENT, "INCONCLUSIVE", " ".join(ROWS[0][2].split()), f"{REASON} (second line)"]
