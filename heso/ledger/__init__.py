"""The per-team hash-chained audit ledger."""
