"""Stable identities: one dedup key per account × alert type, one alert id per opening."""

import hashlib
from datetime import datetime


def dedup_key(account_id: str, alert_type: str) -> str:
    """`account_id:alert_type`: a live alert with this key is updated, never duplicated."""
    return f"{account_id}:{alert_type}"


def alert_id(dedup_key_value: str, opened_at: datetime) -> str:
    """First 16 hex digits of sha256(dedup_key + opened_at ISO): the same opening, the same id."""
    digest = hashlib.sha256((dedup_key_value + opened_at.isoformat()).encode("utf-8")).hexdigest()
    return digest[:16]
