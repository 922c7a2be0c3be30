"""Bring-your-own data: `load_path` turns contract-shaped extracts (CSV, Parquet) and Debezium
JSON lines into change rows in `cdc.<system>_changes`, checking every row and quarantining the
bad ones; `export_extracts` writes a warehouse's change tables back out in the same shapes.
"""

from healthwatch.loader.export import ExportFormat, export_extracts
from healthwatch.loader.load import load_path
from healthwatch.loader.report import FileReport, LoadReport, TableReport

__all__ = ["ExportFormat", "FileReport", "LoadReport", "TableReport", "export_extracts", "load_path"]
