"""audit: record macs and the audit_head anchor

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 06:20:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('hmac', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # Nullable only until the existing records are signed below.
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mac', sa.String(length=64), nullable=True))
    _sign_existing_records()
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('mac', existing_type=sa.String(length=64), nullable=False)


def _sign_existing_records() -> None:
    """Sign the records written before this revision and anchor the newest one.

    They were never protected against a cut-off tail, so this vouches for the trail as it stands at
    upgrade time; their hash chain is still checked as before. The signing key is read only when
    there are records (a new database needs none).
    """
    conn = op.get_bind()
    rows = conn.execute(sa.text('SELECT seq, hash FROM audit_log ORDER BY seq')).all()
    if not rows:
        return
    from mltrainer.audit import anchor_mac, audit_key, record_mac

    key = audit_key()
    for seq, record_hash in rows:
        conn.execute(sa.text('UPDATE audit_log SET mac = :mac WHERE seq = :seq'),
                     {'mac': record_mac(record_hash, key), 'seq': seq})
    last_seq, last_hash = rows[-1]
    conn.execute(sa.text('INSERT INTO audit_head (id, seq, hash, hmac) VALUES (1, :seq, :hash, :hmac)'),
                 {'seq': last_seq, 'hash': last_hash, 'hmac': anchor_mac(last_seq, last_hash, key)})


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_column('mac')
    op.drop_table('audit_head')
