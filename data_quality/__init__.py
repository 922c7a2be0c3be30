"""Great Expectations suites over sources and signals, and the logic that decides what passes."""
