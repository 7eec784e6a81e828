"""Payment channels: one package per platform, each pure builders and parsers (no I/O)."""
