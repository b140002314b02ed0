"""Action Receipts (``heso.receipt/1``): format, signing keys, server-side re-verification, ingest."""
