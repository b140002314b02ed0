"""The Telegram channel's Alembic branch ``telegram``: its table is its own, not the core's.

HESO finds this package through the entry point ``heso.migrations`` ``telegram`` and runs the
revisions in ``versions/`` with the core's (``heso db upgrade``). ``versions`` is a package
only so that a non-editable install ships it; Alembic ignores its ``__init__``.
"""
