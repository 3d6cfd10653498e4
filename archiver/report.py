"""The end-of-run outcome table, for people (rich on a terminal, plain text otherwise)."""

from __future__ import annotations

import sys
from typing import IO

from archiver.model import Details, StageResult


def outcome_rows(outcomes: dict[str, list[StageResult[Details]]],
                 show_missing: bool = False) -> list[list[str]]:
    """One row per lesson: id, each stage's status, and the first error or warning."""
    rows = []
    for lesson_id, results in outcomes.items():
        stages = ", ".join(f"{r.stage}: {r.status}" for r in results)
        if not results and show_missing:
            stages = "not started"
        note = next((r.error for r in results if r.error), None) or next(
            (w for r in results for w in r.warnings), "")
        statuses = {r.status for r in results}
        if "failed" in statuses:
            overall = "failed"
        elif "interrupted" in statuses:
            overall = "interrupted"
        elif not statuses:
            overall = "-"
        elif statuses == {"skipped"}:
            overall = "skipped"
        else:
            overall = "ok"
        rows.append([lesson_id, overall, stages, note or ""])
    return rows


def print_table(rows: list[list[str]], headers: tuple[str, ...] = ("lesson", "outcome",
                "stages", "note"), stream: IO[str] | None = None) -> None:
    stream = stream or sys.stdout
    if stream.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*headers)
        for row in rows:
            table.add_row(*row)
        Console(file=stream).print(table)
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    widths[-1] = 0
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
          file=stream)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(),
              file=stream)
