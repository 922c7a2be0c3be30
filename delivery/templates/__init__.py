"""Jinja templates for mails and CRM task descriptions.

A package of its own so that `*.j2` files ship in the wheel (pyproject's package-data matches
files directly inside packages).
"""
