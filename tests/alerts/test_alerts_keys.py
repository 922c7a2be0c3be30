"""Dedup keys and alert ids."""

import hashlib
import re
from datetime import datetime

from alerts.keys import alert_id, dedup_key


def test_dedup_key_is_account_and_type() -> None:
    assert dedup_key("acc_1", "usage_drop") == "acc_1:usage_drop"


def test_alert_id_is_the_first_16_hex_of_sha256_of_key_and_opening() -> None:
    opened = datetime(2025, 11, 9, 22, 0)
    expected = hashlib.sha256(b"acc_1:usage_drop2025-11-09T22:00:00").hexdigest()[:16]
    assert alert_id("acc_1:usage_drop", opened) == expected
    assert re.fullmatch(r"[0-9a-f]{16}", expected)


def test_alert_id_is_stable_and_differs_per_opening() -> None:
    key = dedup_key("acc_1", "usage_drop")
    first = alert_id(key, datetime(2025, 11, 9, 22, 0))
    assert alert_id(key, datetime(2025, 11, 9, 22, 0)) == first
    assert alert_id(key, datetime(2025, 11, 10, 22, 0)) != first
    assert alert_id(dedup_key("acc_2", "usage_drop"), datetime(2025, 11, 9, 22, 0)) != first
