"""What the loader checks, derived from the source contract: types, keys, accepted values, ranges.

Every check is a SQL expression over one staged table, so a whole file is validated in one query
(DuckDB `try_cast`), never row by row in Python. A check gives a readable sentence naming the
column and the rule (`reason`, with the value) and the rule alone (`rule`, for counting).
"""

from dataclasses import dataclass

from healthwatch.contract import ACCEPTED_VALUES, SOURCE_TABLES, SourceTable

TABLES: dict[str, SourceTable] = {t.name: t for t in SOURCE_TABLES}
TABLE_NAMES: tuple[str, ...] = tuple(TABLES)

# The time a fact row happened at: its change row's source_ts. Other tables are dimensions,
# loaded as a snapshot (op 'r') at the start of the data.
FACT_TIME: dict[str, str] = {
    "events": "ts",
    "tickets": "created_at",
    "crm_events": "event_at",
    "survey_sends": "sent_at",
    "nps_responses": "responded_at",
    "invoices": "event_at",
}
DIMENSIONS: tuple[str, ...] = tuple(name for name in TABLES if name not in FACT_TIME)

# Within one time and change table, parents come before children (as in the simulator).
TABLE_ORDER: tuple[str, ...] = (
    "team",
    "accounts",
    "contracts",
    "contacts",
    "invoices",
    "crm_events",
    "tasks",
    "tickets",
    "events",
    "survey_sends",
    "nps_responses",
)
RANK: dict[str, int] = {name: i for i, name in enumerate(TABLE_ORDER)}

# Inclusive bounds per (table, column); None = open.
BOUNDS: dict[tuple[str, str], tuple[float | None, float | None]] = {
    ("accounts", "arr"): (0, None),
    ("accounts", "seats_purchased"): (0, None),
    ("contracts", "arr"): (0, None),
    ("invoices", "amount"): (0, None),
    ("nps_responses", "score"): (0, 10),
    ("tickets", "csat"): (1, 5),
}
# Numbers inside a JSON column that must not be negative when present.
JSON_NON_NEGATIVE: dict[tuple[str, str], tuple[str, ...]] = {
    ("events", "properties"): ("duration_seconds", "latency_ms"),
}
DEBEZIUM_OPS: tuple[str, ...] = ("c", "u", "d", "r")

_TYPE_WORDS = {
    "integer": "an integer",
    "double": "a number",
    "boolean": "a boolean (true or false)",
    "timestamp": "a timestamp",
    "date": "a date",
    "json": "a JSON object",
}
# A time of day followed by a UTC offset: parsed as an instant and converted to UTC.
_OFFSET_PATTERN = r"\d:\d\d(:\d\d(\.\d+)?)?\s*([zZ]|UTC|[+-]\d\d(:?\d\d)?)$"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def shown(expr: str) -> str:
    """SQL for a value as shown in a reason: quoted, cut at 60 characters."""
    return f"'''' || left({expr}, 60) || case when length({expr}) > 60 then '…' else '' end || ''''"


def present(table: SourceTable, column: str, alias: str | None = "r") -> str:
    """The raw text of a column, empty meaning missing for every type but text."""
    raw = f"{alias}.{ident(column)}" if alias else ident(column)
    return raw if table.columns[column] == "varchar" else f"nullif(trim({raw}), '')"


def typed(kind: str, v: str) -> str:
    """SQL turning the raw text `v` into the contract type; NULL when it does not cast."""
    if kind == "varchar":
        return v
    if kind == "integer":
        d = f"try_cast({v} as double)"
        return f"case when {d} = floor({d}) and abs({d}) <= 2147483647 then cast({d} as integer) end"
    if kind == "double":
        d = f"try_cast({v} as double)"
        return f"case when isfinite({d}) then {d} end"
    if kind == "boolean":
        return f"try_cast({v} as boolean)"
    if kind == "timestamp":
        number = f"try_cast({v} as double)"
        # Epoch numbers (Debezium encodes timestamps so): seconds, ms, µs or ns by magnitude; a
        # small number (before 1973 as seconds: a day count, a year...) is not taken as a time.
        micros = (
            f"case when abs({number}) < 1e8 then null "
            f"when abs({number}) < 1e11 then {number} * 1e6 when abs({number}) < 1e14 then {number} * 1e3 "
            f"when abs({number}) < 1e17 then {number} else {number} / 1e3 end"
        )
        return (
            f"case when regexp_full_match({v}, '[+-]?\\d+(\\.\\d+)?') then try(make_timestamp(cast({micros} as bigint))) "
            f"when regexp_matches({v}, '{_OFFSET_PATTERN}') "
            f"then try(make_timestamp(epoch_us(try_cast({v} as timestamptz)))) "
            f"else try_cast({v} as timestamp) end"
        )
    if kind == "date":
        # Days since 1970-01-01 (Debezium's encoding of dates) or a date text.
        return (
            f"case when regexp_full_match({v}, '[+-]?\\d{{1,6}}') then try(date '1970-01-01' + cast({v} as integer)) "
            f"else try_cast({v} as date) end"
        )
    if kind == "json":
        # One parse: only an object is accepted (nested values are re-serialized on write).
        return f"case when left(ltrim({v}), 1) = '{{' then try_cast({v} as json) end"
    raise ValueError(f"no loader type for {kind!r}")


def json_text(kind: str, value: str) -> str:
    """SQL for a typed value as it goes into the `after` JSON (the simulator's formats)."""
    if kind == "timestamp":
        return (
            f"case when epoch_us({value}) % 1000000 = 0 then strftime({value}, '%Y-%m-%dT%H:%M:%S') "
            f"else strftime({value}, '%Y-%m-%dT%H:%M:%S.%f') end"
        )
    if kind == "date":
        return f"strftime({value}, '%Y-%m-%d')"
    return value


@dataclass(frozen=True)
class Check:
    """One rule: when `failed` holds, the row is quarantined with `reason` (SQL) and `rule` (text)."""

    failed: str
    reason: str
    rule: str


def column_checks(table: SourceTable, *, account_check: bool) -> list[Check]:
    """The checks of every contract column of `table`, over `r` (raw) and `t_<col>` (typed)."""
    checks: list[Check] = []
    for column, kind in table.columns.items():
        v = present(table, column)
        t = ident(f"t_{column}")
        name = column
        if column == FACT_TIME.get(table.name):
            checks.append(
                Check(
                    f"{v} is null",
                    lit(f"{name} is missing (the time of the {table.name} row)"),
                    f"{name} is missing",
                )
            )
        if kind != "varchar":
            word = _TYPE_WORDS[kind]
            checks.append(
                Check(
                    f"{v} is not null and {t} is null",
                    f"{lit(name + ' ')} || {shown(v)} || {lit(' is not ' + word)}",
                    f"{name} is not {word}",
                )
            )
        allowed = ACCEPTED_VALUES.get((table.name, column))
        if allowed:
            listed = ", ".join(allowed)
            checks.append(
                Check(
                    f"{t} is not null and {t} not in ({', '.join(lit(a) for a in allowed)})",
                    f"{lit(name + ' ')} || {shown(t)} || {lit(' is not one of ' + listed)}",
                    f"{name} is not one of {listed}",
                )
            )
        bounds = BOUNDS.get((table.name, column))
        if bounds:
            checks.append(_bounds_check(name, t, bounds))
        for i, key in enumerate(JSON_NON_NEGATIVE.get((table.name, column), ()), start=1):
            inner = f"{ident('j_' + column)}[{i}]"
            number = f"try_cast({inner} as double)"
            label = f"{column}.{key}"
            checks.append(
                Check(
                    f"{inner} is not null and not coalesce(isfinite({number}), false)",
                    f"{lit(label + ' ')} || {shown(inner)} || {lit(' is not a number')}",
                    f"{label} is not a number",
                )
            )
            checks.append(
                Check(
                    f"{number} < 0",
                    f"{lit(label + ' ')} || {inner} || {lit(' is negative (must be ≥ 0)')}",
                    f"{label} is negative",
                )
            )
    if account_check and "account_id" in table.columns and table.name != "accounts":
        v = f"nullif(trim(r.{ident('account_id')}), '')"
        checks.append(Check(f"{v} is null", lit("account_id is missing"), "account_id is missing"))
        checks.append(
            Check(
                f"{v} is not null and k.account_id is null",
                f"'account_id ' || {v} || ' is not a known account'",
                "account_id is not a known account",
            )
        )
    return checks


def _bounds_check(name: str, t: str, bounds: tuple[float | None, float | None]) -> Check:
    low, high = bounds
    value = f"cast({t} as varchar)"
    if high is None:
        return Check(
            f"{t} < {low}",
            f"{lit(name + ' ')} || {value} || {lit(' is negative (must be ≥ 0)')}",
            f"{name} is negative",
        )
    span = f"{low:g}–{high:g}"
    return Check(
        f"{t} < {low} or {t} > {high}",
        f"{lit(name + ' ')} || {value} || {lit(' outside ' + span)}",
        f"{name} outside {span}",
    )


def json_members(table: SourceTable) -> list[str]:
    """SQL for the checked numbers inside JSON columns, one list per column (`j_<column>`), one parse."""
    out = []
    for column in table.columns:
        keys = JSON_NON_NEGATIVE.get((table.name, column))
        if keys:
            paths = ", ".join(lit("$." + k) for k in keys)
            out.append(f"json_extract_string({ident('t_' + column)}, [{paths}]) as {ident('j_' + column)}")
    return out


def key_check(table: SourceTable) -> Check:
    v = f"nullif(trim(r.{ident(table.key)}), '')"
    return Check(
        f"{v} is null",
        lit(f"{table.key} is missing (the key of {table.name})"),
        f"{table.key} is missing",
    )
