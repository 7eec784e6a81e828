"""Payment bridge: payment notices, payment codes, platform channels and statements (R5, R7)."""
