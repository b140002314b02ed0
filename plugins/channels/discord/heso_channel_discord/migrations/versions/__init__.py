"""Revisions of the ``discord`` branch (a package so that a non-editable install ships them)."""
