"""Questions (issue 17): a decision's kind (approval or question), its response options, and
the answer (free text and/or the chosen option's name).

Revision ID: 0014_questions
Revises: 0013_grants
"""
import sqlalchemy as sa
from alembic import op

from heso.models_base import JSONDoc

revision = '0014_questions'
down_revision = '0013_grants'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('decisions') as batch:
        batch.add_column(sa.Column('kind', sa.String(16), nullable=False, server_default='approval'))
        batch.add_column(sa.Column('response_options', JSONDoc, nullable=True))
        batch.add_column(sa.Column('answer', sa.Text, nullable=True))
        batch.add_column(sa.Column('answer_option', sa.String(100), nullable=True))


def downgrade():
    with op.batch_alter_table('decisions') as batch:
        batch.drop_column('answer_option')
        batch.drop_column('answer')
        batch.drop_column('response_options')
        batch.drop_column('kind')
