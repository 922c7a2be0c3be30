"""healthwatch: real-time account health alerts for customer-success teams."""

__version__ = "0.1.0"
