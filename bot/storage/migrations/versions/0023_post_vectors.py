"""post_vectors: each post's embedding for topic rules (``~"..."``)

One row a post: the model that made it (a model change is found by this column and the vectors
remade), the text hash it was made from (an edit makes it stale), and the vector (384 float32).
PostgreSQL with the pgvector extension available: the extension is created, the column is
``vector(384)`` with an HNSW index for inner product (the vectors are unit length). Without it, and
on SQLite: the raw float32 bytes, searched by a scan (bot/search/vectors.py).

Revision ID: 0023_post_vectors
Revises: 0022_notify_targets
"""

from __future__ import annotations

from alembic import op

revision: str = "0023_post_vectors"
down_revision: str | None = "0022_notify_targets"
branch_labels = None
depends_on = None

_TABLE = (
    "CREATE TABLE post_vectors ("
    "post_id {id} PRIMARY KEY REFERENCES posts (id) ON DELETE CASCADE, "
    "model VARCHAR(80) NOT NULL, "
    "text_hash VARCHAR(32) NOT NULL, "
    "embedding {vector} NOT NULL)"
)


def _pgvector(bind) -> bool:  # type: ignore[no-untyped-def]
    """Create the pgvector extension when the server has it; False when it cannot."""
    if bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").first() is None:
        return False
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector")
    except Exception:  # no right to create it: the plain column still works
        return False
    return True


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        if _pgvector(bind):
            op.execute(_TABLE.format(id="BIGINT", vector="vector(384)"))
            op.execute("CREATE INDEX ix_post_vectors_hnsw ON post_vectors USING hnsw (embedding vector_ip_ops)")
        else:
            op.execute(_TABLE.format(id="BIGINT", vector="BYTEA"))
    else:
        op.execute(_TABLE.format(id="INTEGER", vector="BLOB"))
    op.execute("CREATE INDEX ix_post_vectors_model ON post_vectors (model)")


def downgrade() -> None:
    op.execute("DROP TABLE post_vectors")
