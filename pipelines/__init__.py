"""Dagster wiring only: assets call plain Python in ml/, alerts/, delivery/ and data_quality/."""
