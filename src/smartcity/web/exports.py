"""Export what a screen shows — any table or chart — as CSV or XLSX.

The page posts the rows it displays (`{"title", "columns", "rows"}`) and gets a file back:
one converter for every table and chart, so an operator downloads exactly what they see.
CSV is UTF-8 with a byte-order mark (Excel then reads Vietnamese correctly); XLSX is written
by openpyxl in streaming mode.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from openpyxl import Workbook
from pydantic import BaseModel, Field
from unidecode import unidecode

from smartcity.core.auth.deps import Permission
from smartcity.core.auth.policy import Action, Resource

MAX_ROWS = 100_000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

router = APIRouter(prefix="/api/export", tags=["export"])
ReadContext = Depends(Permission(Action.READ, Resource.CONTEXT))

Cell = str | int | float | bool | None


class Table(BaseModel):
    """A table as the page shows it."""

    title: str = Field(min_length=1, max_length=200)
    columns: list[str] = Field(min_length=1, max_length=200)
    rows: list[list[Cell]] = Field(max_length=MAX_ROWS)


def to_csv(table: Table) -> bytes:
    """The table as CSV (UTF-8 with BOM)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(table: Table) -> bytes:
    """The table as an Excel workbook with one sheet."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(table.title))
    sheet.append(table.columns)
    for row in table.rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _sheet_title(title: str) -> str:
    """Excel forbids []:*?/\\ in sheet names and allows 31 characters."""
    cleaned = "".join(" " if c in "[]:*?/\\" else c for c in title).strip()
    return cleaned[:31] or "Sheet"


def _filename(title: str, extension: str) -> str:
    """An ASCII file name from a Vietnamese title ("Mực nước" → "muc-nuoc")."""
    slug = "".join(c if c.isalnum() else "-" for c in unidecode(title).lower())
    return "-".join(part for part in slug.split("-") if part)[:80] + "." + extension


@router.post("/{file_format}", dependencies=[ReadContext])
async def export_table(file_format: Literal["csv", "xlsx"], table: Table) -> Response:
    """The posted table as a CSV or XLSX download."""
    if file_format == "csv":
        body, media_type = to_csv(table), "text/csv; charset=utf-8"
    else:
        body, media_type = to_xlsx(table), XLSX
    name = _filename(table.title, file_format)
    disposition = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    return Response(body, media_type=media_type, headers={"content-disposition": disposition})


def table_from(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    """Build a Table (for server-side reports that reuse the writers)."""
    return Table(title=title, columns=columns, rows=rows)
