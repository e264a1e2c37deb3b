from __future__ import annotations

import pytest

from catalog.connectors import SourceError, SourceUnavailable, connect
from catalog.connectors.sqlite import SQLiteConnector


def test_an_unknown_scheme_is_a_clear_error():
    with pytest.raises(SourceUnavailable, match="Unsupported connection URL scheme 'mysql'"):
        connect("mysql://root@localhost/shop")


def test_a_missing_sqlite_file_is_a_clear_error(tmp_path):
    with pytest.raises(SourceUnavailable, match="does not exist"):
        connect(f"sqlite:///{tmp_path}/nope.db")


def test_a_malformed_sqlite_url_is_a_clear_error():
    with pytest.raises(SourceUnavailable, match="expected sqlite:///path"):
        connect("sqlite:relative.db")


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database at all" * 100)
    with pytest.raises(SourceUnavailable, match="Cannot open SQLite database"):
        connect(f"sqlite:///{path}")


def test_an_unreachable_postgresql_server_is_a_clear_error():
    with pytest.raises(SourceUnavailable, match="Cannot connect to PostgreSQL"):
        connect("postgresql://nobody@127.0.0.1:1/nothing")


def test_quoting_doubles_quotes_and_refuses_nul():
    assert SQLiteConnector.quote('a"b') == '"a""b"'
    with pytest.raises(SourceError):
        SQLiteConnector.quote("a\x00b")


def test_columns_get_their_kind(source):
    with connect(source.url) as conn:
        tables = {t.name: t for t in conn.tables()}
    assert set(tables) == {"customers", "orders", "big_orders"}
    assert tables["big_orders"].kind == "view"
    kinds = {c.name: c.kind for c in tables["customers"].columns}
    assert kinds == {
        "id": "number",
        "email": "text",
        "country": "text",
        "age": "number",
        "signup": "date",
    }


def test_a_failing_query_is_a_source_error_not_an_outage(source):
    with connect(source.url) as conn:
        with pytest.raises(SourceError) as error:
            conn.query('SELECT nope FROM "customers"')
        assert not isinstance(error.value, SourceUnavailable)
        assert conn.scalar('SELECT COUNT(*) FROM "customers"') == 100  # still usable


def test_rows_stream_in_batches(source):
    with connect(source.url) as conn:
        batches = list(conn.stream('SELECT id FROM "orders" ORDER BY id', batch_size=128))
    assert [len(rows) for _, rows in batches] == [128, 128, 44]
    assert batches[0][0] == ["id"]


def test_replace_table_swaps_in_a_complete_table(source):
    with connect(source.url, write=True) as conn:
        conn.replace_table("out", [("n", "INTEGER")], [[(1,), (2,)]])
        assert conn.scalar('SELECT COUNT(*) FROM "out"') == 2

        def failing():
            yield [(3,)]
            raise RuntimeError("aborted while writing")

        with pytest.raises(RuntimeError):
            conn.replace_table("out", [("n", "INTEGER")], failing())
        assert conn.query('SELECT n FROM "out" ORDER BY n') == [(1,), (2,)]  # the old one stays
        names = {t.name for t in conn.tables()}
        assert not any(name.startswith("rb_tmp_") for name in names)  # no scratch left behind
