"""CDC from PostgreSQL: a logical replication slot (wal2json) streamed into `cdc.<system>_changes`.

- `mapping`: which source table feeds which contract table, and how its columns map (YAML).
- `writer`: appends change rows to the warehouse with the slot's position, in one transaction.
- `reader`: the replication loop (slot, first snapshot, stream, acknowledge after commit).
"""
