"""People: members, sign-in requests, sessions, personal keys, team settings (issue 12)

Every address that appears as an approver (or backup approver) of a decision becomes an
invited member of that decision's team, so upgrading loses nothing: every open decision
still has its approvers, and they can sign in to act on it.

Revision ID: 0008_people
Revises: 0007_slack
"""
import json
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op
from ulid import ULID

revision = '0008_people'
down_revision = '0007_slack'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'members',
        sa.Column('id', sa.String(40), nullable=False),
        sa.Column('team_id', sa.String(40), nullable=False),
        sa.Column('email', sa.String(320), nullable=False),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('invited_by', sa.String(60), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_members_team_id_teams')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_members')),
        sa.UniqueConstraint('team_id', 'email', name=op.f('uq_members_team_id')),
    )
    op.create_index(op.f('ix_members_team_id'), 'members', ['team_id'])
    op.create_index(op.f('ix_members_email'), 'members', ['email'])
    op.create_table(
        'sign_in_requests',
        sa.Column('id', sa.String(40), nullable=False),
        sa.Column('email', sa.String(320), nullable=False),
        sa.Column('purpose', sa.String(16), nullable=False),
        sa.Column('member_id', sa.String(40), nullable=True),
        sa.Column('code_hash', sa.String(64), nullable=True),
        sa.Column('link_hash', sa.String(64), nullable=False),
        sa.Column('failed_attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_sign_in_requests_member_id_members')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_requests')),
        sa.UniqueConstraint('link_hash', name=op.f('uq_sign_in_requests_link_hash')),
    )
    op.create_index(op.f('ix_sign_in_requests_email'), 'sign_in_requests', ['email'])
    op.create_table(
        'sessions',
        sa.Column('id', sa.String(16), nullable=False),
        sa.Column('team_id', sa.String(40), nullable=False),
        sa.Column('member_id', sa.String(40), nullable=False),
        sa.Column('token_hash', sa.String(64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('rotated_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('user_agent', sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_sessions_team_id_teams')),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_sessions_member_id_members')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sessions')),
    )
    op.create_index(op.f('ix_sessions_team_id'), 'sessions', ['team_id'])
    op.create_index(op.f('ix_sessions_member_id'), 'sessions', ['member_id'])
    # Plain ADD COLUMNs, no batch "move and copy": on SQLite that would drop and recreate tables
    # that other tables reference, which foreign keys forbid once they hold rows.
    if op.get_bind().dialect.name == 'sqlite':  # SQLite takes the reference inline, not as a constraint
        op.execute('ALTER TABLE api_keys ADD COLUMN member_id VARCHAR(40) '
                   'CONSTRAINT fk_api_keys_member_id_members REFERENCES members (id)')
    else:
        op.add_column('api_keys', sa.Column('member_id', sa.String(40), nullable=True))
        op.create_foreign_key(op.f('fk_api_keys_member_id_members'), 'api_keys', 'members', ['member_id'], ['id'])
    op.create_index(op.f('ix_api_keys_member_id'), 'api_keys', ['member_id'])
    op.add_column('teams', sa.Column('outside_approvers', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('teams', sa.Column('self_approval', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('decisions', sa.Column('resolved_via', sa.String(32), nullable=True))
    op.add_column('decisions', sa.Column('created_by_member', sa.String(40), nullable=True))
    op.add_column('decision_votes', sa.Column('member_id', sa.String(40), nullable=True))
    op.add_column('decision_votes', sa.Column('via', sa.String(32), nullable=True))
    _members_for_existing_approvers()


def _json(value):
    return json.loads(value) if isinstance(value, str) else value  # SQLite hands JSON back as text


def _bundle_approvers(document):
    """Every address a stored policy bundle routes to (rules' and the default's approvers)."""
    document = _json(document) or {}
    approvals = [rule.get("approval") for rule in document.get("rules") or [] if isinstance(rule, dict)]
    approvals.append(document.get("default_approval"))
    return [address for approval in approvals if isinstance(approval, dict)
            for address in approval.get("approvers") or []]


def _members_for_existing_approvers():
    """An invited member per (team, approver address) found in decisions and policy bundles."""
    connection = op.get_bind()
    wanted = set()
    found = [(team_id, [*(_json(approvers) or []), escalate_to]) for team_id, approvers, escalate_to in
             connection.execute(sa.text("SELECT team_id, approvers, escalate_to FROM decisions"))]
    found += [(team_id, _bundle_approvers(document)) for team_id, document in
              connection.execute(sa.text("SELECT team_id, document FROM policy_bundles"))]
    for team_id, addresses in found:
        for address in addresses:
            if isinstance(address, str) and address.strip():
                wanted.add((team_id, address.strip().lower()))
    if not wanted:
        return
    now = datetime.now(timezone.utc)
    members = sa.table('members', *(sa.column(name) for name in (
        'id', 'team_id', 'email', 'name', 'role', 'status', 'invited_by', 'created_at')))
    connection.execute(members.insert(), [
        {'id': f'mem_{ULID()}', 'team_id': team_id, 'email': email, 'name': '', 'role': 'approver',
         'status': 'invited', 'invited_by': 'migration 0008_people', 'created_at': now}
        for team_id, email in sorted(wanted)
    ])


def downgrade():
    # DROP COLUMN is native on SQLite ≥ 3.35 and PostgreSQL: no table is recreated.
    for table, column in (('decision_votes', 'via'), ('decision_votes', 'member_id'),
                          ('decisions', 'created_by_member'), ('decisions', 'resolved_via'),
                          ('teams', 'self_approval'), ('teams', 'outside_approvers')):
        op.drop_column(table, column)
    op.drop_index(op.f('ix_api_keys_member_id'), 'api_keys')
    if op.get_bind().dialect.name != 'sqlite':  # SQLite keeps the reference inline with the column
        op.drop_constraint(op.f('fk_api_keys_member_id_members'), 'api_keys', type_='foreignkey')
    op.drop_column('api_keys', 'member_id')
    op.drop_table('sessions')
    op.drop_table('sign_in_requests')
    op.drop_table('members')
