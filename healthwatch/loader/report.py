"""What a load did: files read, rows per table (loaded, quarantined and why), change rows written."""

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class FileReport:
    path: Path
    format: str  # csv | parquet | debezium
    table: str | None  # the contract table the file is named after (Debezium lines: if any)
    rows: int  # rows (CSV / Parquet) or non-blank lines (Debezium) read
    extra_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableReport:
    """One contract table: rows_read = rows_loaded + rows_quarantined, always."""

    table: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    top_reasons: tuple[tuple[str, int], ...] = ()  # (rule, rows), most frequent first
    # loaded rows not written again: a file row repeating the version before it, or a Debezium
    # event already in the warehouse or earlier in the load (same table, key and position)
    repeats: int = 0

    @property
    def quarantine_table(self) -> str:
        return f"quarantine.{self.table}"


@dataclass
class LoadReport:
    path: Path
    ingested_at: datetime
    files: list[FileReport] = field(default_factory=list)
    tables: dict[str, TableReport] = field(default_factory=dict)
    change_rows: dict[str, int] = field(default_factory=dict)  # per change table, e.g. cdc.crm_changes
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_read(self) -> int:
        return sum(t.rows_read for t in self.tables.values())

    @property
    def rows_loaded(self) -> int:
        return sum(t.rows_loaded for t in self.tables.values())

    @property
    def rows_quarantined(self) -> int:
        return sum(t.rows_quarantined for t in self.tables.values())

    @property
    def change_rows_written(self) -> int:
        return sum(self.change_rows.values())

    def summary_lines(self) -> list[str]:
        """The report as plain lines, for the CLI."""
        lines = [
            f"Loaded {self.path}: {len(self.files)} file{'s' if len(self.files) != 1 else ''}, {self.rows_read:,} rows read, "
            f"{self.rows_loaded:,} loaded, {self.rows_quarantined:,} quarantined, "
            f"{self.change_rows_written:,} change rows written in {self.seconds:.1f} s",
        ]
        if self.files:
            lines.append("  files: " + ", ".join(f"{f.path.name} ({f.rows:,})" for f in self.files))
        for report in self.tables.values():
            if not report.rows_read:
                continue
            line = f"  {report.table}: {report.rows_read:,} read, {report.rows_loaded:,} loaded"
            if report.rows_quarantined:
                reasons = "; ".join(f"{rule} ({n:,})" for rule, n in report.top_reasons)
                line += f", {report.rows_quarantined:,} quarantined in {report.quarantine_table}: {reasons}"
            if report.repeats:
                line += f", {report.repeats:,} duplicates not written again"
            lines.append(line)
        written = ", ".join(f"{table} +{n:,}" for table, n in self.change_rows.items() if n)
        if written:
            lines.append(f"  change rows: {written}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return lines
