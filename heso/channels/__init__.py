"""Approval channels: plugins found through the ``heso.channels`` entry-point group."""
