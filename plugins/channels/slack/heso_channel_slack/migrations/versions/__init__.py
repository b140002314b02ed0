"""Revisions of the ``slack`` branch (see the package's docstring)."""
