"""Assets by group: sources, signals (dbt), ml, alerts, delivery."""
