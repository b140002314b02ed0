"""Slack installations and posted messages (issue 5), moved to the Slack plugin (issue 14)

This revision created ``slack_installations`` and ``slack_messages`` until the Slack plugin
owned its tables. It now does nothing: the plugin's own branch creates them (revision
``slack_0001_tables`` in ``heso_channel_slack/migrations/versions/``), and leaves them as they
are in a database where this revision created them already. It stays in the chain so that
databases stamped with it, or past it, keep their place.

Revision ID: 0007_slack
Revises: 0006_receipts
"""
revision = '0007_slack'
down_revision = '0006_receipts'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass  # the tables are the plugin's: `heso db downgrade slack@base` drops them
