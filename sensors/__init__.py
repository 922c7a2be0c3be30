"""CDC sensors: watch the change tables and request rescoring runs for new change rows."""
