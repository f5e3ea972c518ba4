"""The journal, the image facts and the catalogue index, as SQLite's index.VERSION 2.

The same tables as the SQLite file (journal.SCHEMA, index.SCHEMA), with what PostgreSQL
needs to behave the same:
- every text column `COLLATE "C"`: ordered by bytes (SQLite's BINARY), whatever the
  database's locale;
- `activities.n` without a sequence: writers number their activities themselves under
  the writers' lock, so the numbers stay 1, 2, 3, … (a sequence skips a number a
  rolled-back transaction took);
- full-text search in `item_words.document` (tsvector, GIN), folded by the text search
  configuration `beeldpost` (`simple` after `unaccent`: case and diacritics), for
  FTS5's `item_words`; and the vocabulary that autocomplete reads, kept by the writers:
  `item_terms` (each item's words and how often) and `words` (their totals), for
  FTS5's fts5vocab tables.

Revision ID: 0001
Revises:
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

WORD_TOKENS = ("asciiword, word, numword, asciihword, hword, numhword, hword_asciipart, "
               "hword_part, hword_numpart")


def text(name: str, nullable: bool = False, **options) -> sa.Column:
    return sa.Column(name, sa.Text(collation="C"), nullable=nullable, **options)


def number(name: str, nullable: bool = False, **options) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=nullable, **options)


def upgrade() -> None:
    # -- the journal
    op.create_table(
        "activities",
        number("n", primary_key=True, autoincrement=False),
        text("type"), text("kind"), text("item"), number("version"), text("end_time"),
        sa.CheckConstraint("type IN ('Create', 'Update', 'Delete')", name="activities_type"),
        sa.CheckConstraint("kind IN ('collection', 'manifest', 'manifest2')",
                           name="activities_kind"),
        sa.UniqueConstraint("kind", "item", "version", name="activities_once"),
    )
    op.create_table(
        "state",
        text("item", primary_key=True), text("fingerprint"), text("label"),
        sa.Column("live", sa.Integer(), nullable=False), number("version"), text("changed"),
        sa.Column("written_at", sa.Double(), nullable=False),
    )
    op.create_table(
        "image_facts",
        text("identifier", primary_key=True), text("path"), number("size"), number("mtime_ns"),
        text("sha256"), number("width"), number("height"),
    )
    # -- the catalogue index
    op.create_table(
        "items",
        text("item", primary_key=True), text("file"), text("record"),
        text("transcript", nullable=True), text("transcript_file", nullable=True),
        text("image"), number("width"), number("height"),
        text("label_nl"), text("label_en"), text("credit_nl"), text("credit_en"),
        text("date", nullable=True), number("year", nullable=True),
        text("hierarchy"), text("node"), text("rights"),
        number("max_size", nullable=True), number("max_width", nullable=True),
        number("max_height", nullable=True), number("max_area", nullable=True),
        text("stamps"), text("digest"),
    )
    op.create_index("items_by_image", "items", ["image"])
    op.create_index("items_by_node", "items", ["node", "item"])
    op.create_index("items_by_node_year", "items", ["node", "year", "item"])
    op.create_index("items_by_transcript", "items", ["transcript_file"])
    op.create_table("record_files", text("path", primary_key=True), text("item"))
    op.create_index("record_files_by_item", "record_files", ["item"])
    op.create_table("source_files", text("path", primary_key=True), text("identifier"))
    op.create_index("source_files_by_identifier", "source_files", ["identifier"])
    op.create_table(
        "nodes",
        text("path", primary_key=True), text("levels"), text("parent"), text("name"),
        number("items"), number("total"), text("thumbnail", nullable=True),
    )
    op.create_index("nodes_by_parent", "nodes", ["parent", "name"])
    op.create_table("meta", text("key", primary_key=True), number("value"))
    # -- full-text search
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute("CREATE TEXT SEARCH CONFIGURATION beeldpost (COPY = pg_catalog.simple)")
    op.execute(f"ALTER TEXT SEARCH CONFIGURATION beeldpost ALTER MAPPING FOR {WORD_TOKENS} "
               "WITH unaccent, simple")
    op.create_table(
        "item_words",
        text("item", primary_key=True), text("label"), text("words"),
        sa.Column("document", postgresql.TSVECTOR(), nullable=False),
    )
    op.create_index("item_words_document", "item_words", ["document"], postgresql_using="gin")
    op.create_table(
        "item_terms",
        text("term"), text("item"), number("occurrences"),
        sa.PrimaryKeyConstraint("term", "item", name="item_terms_pkey"),
    )
    op.create_index("item_terms_by_item", "item_terms", ["item"])
    op.create_table("words", text("term", primary_key=True), number("occurrences"))


def downgrade() -> None:
    for table in ("words", "item_terms", "item_words", "meta", "nodes", "source_files",
                  "record_files", "items", "image_facts", "state", "activities"):
        op.drop_table(table)
    op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS beeldpost")
