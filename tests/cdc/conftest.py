"""A PostgreSQL source server with wal_level=logical, shared by the CDC tests of one session."""

from collections.abc import Iterator

import pytest

from postgres_support import running_postgres


@pytest.fixture(scope="session")
def source_pg() -> Iterator[str]:
    """The DSN of a throwaway server (127.0.0.1 only, stopped at the end of the session)."""
    with running_postgres("source", logical=True) as dsn:
        yield dsn
