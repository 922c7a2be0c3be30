"""The mapping file: validated on load, errors naming the file, the key and the fix; source rows
become contract images typed as the simulator writes them."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from healthwatch.cdc.mapping import load_mapping
from healthwatch.errors import HealthwatchError

from tests_support import REPO_ROOT


def test_the_example_file_loads() -> None:
    mapped = load_mapping(REPO_ROOT / "cdc_mapping.example.yml", None)
    invoices = next(m for m in mapped if m.source == "billing.invoices")
    assert invoices.target.name == "invoices" and invoices.key_source == "id"
    image = invoices.image(
        {
            "id": "inv-1",
            "customer_id": "acc-1",
            "due_date": "2026-02-01",
            "total": Decimal("12.50"),
            "status": "failed",
            "updated_at": datetime(2026, 1, 31, 12, 0, tzinfo=UTC),
            "extra": "left out",
        }
    )
    assert image == {
        "invoice_id": "inv-1",
        "account_id": "acc-1",
        "due_date": "2026-02-01",
        "amount": 12.5,
        "status": "failed",
        "event_at": "2026-01-31T12:00:00",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tables:\n  billing.invoices:\n    target: invoice\n", "tables.billing.invoices.target"),
        ("tables:\n  invoices:\n    target: invoices\n", "schema.table"),
        (
            "tables:\n  billing.invoices:\n    target: invoices\n    columns: {amount_due: total}\n",
            "amount_due",
        ),
        ("tables:\n  billing.invoices:\n    target: invoices\n    colums: {}\n", "unknown key"),
        ("tables: {}\n", "tables"),
    ],
)
def test_mapping_errors_name_the_file_and_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "mapping.yml"
    path.write_text(text)
    with pytest.raises(HealthwatchError) as err:
        load_mapping(path, None)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_a_source_row_without_a_mapped_column_names_the_fix(tmp_path: Path) -> None:
    (mapped,) = load_mapping(None, ["billing.invoices"])
    with pytest.raises(HealthwatchError) as err:
        mapped.image({"invoice_id": "inv-1", "account_id": "a", "amount": 1, "status": "paid"})
    assert "due_date" in str(err.value) and "columns: due_date:" in str(err.value)


def test_tables_without_a_file_need_contract_names() -> None:
    with pytest.raises(HealthwatchError, match="no contract table"):
        load_mapping(None, ["billing.bills"])
