"""Errors a person can act on: what is wrong and how to fix it, in one line."""


class HealthwatchError(Exception):
    """An error with a message and the fix, shown by the CLI as one line (no traceback)."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} — {self.fix}" if self.fix else self.message
