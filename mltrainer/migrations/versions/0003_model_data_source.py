"""models: data source and dataset of the training bars

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 05:55:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # Nullable: models registered before provenance was recorded keep NULL (source unknown).
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data_source', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('dataset', sa.Text(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.drop_column('dataset')
        batch_op.drop_column('data_source')
