"""One redaction for connection URLs: every credential a URL or a libpq string can carry is
masked, on pages and in the error texts drivers produce from a URL."""

from __future__ import annotations

import pytest

from catalog.connectors import MASK, SourceUnavailable, connect, redact, redact_message
from catalog.connectors.postgresql import PostgreSQLConnector

M = MASK


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # The password of the userinfo, however it is spelt.
        ("postgresql://shop:Hunter2x@db:5432/shop", f"postgresql://shop:{M}@db:5432/shop"),
        ("postgres://shop:Hunter2x@db/shop", f"postgres://shop:{M}@db/shop"),
        ("postgresql://shop:p%40ss%2Fw0rd@db/shop", f"postgresql://shop:{M}@db/shop"),
        ("postgresql://shop:p@ssw0rd@db/shop", f"postgresql://shop:{M}@db/shop"),
        ("postgresql://shop:pa/ssw0rd@db/shop", f"postgresql://shop:{M}@db/shop"),
        (
            "postgresql://shop:pa?ss#w0rd@db/shop?sslmode=require",
            f"postgresql://shop:{M}@db/shop?sslmode=require",
        ),
        (
            "postgresql://u:Hunter2x@h1:5432,h2:5433/shop",
            f"postgresql://u:{M}@h1:5432,h2:5433/shop",
        ),
        ("sqlite://user:Hunter2x@/var/x.db", f"sqlite://user:{M}@/var/x.db"),
        ("sqlite:user:Hunter2x@x.db", f"sqlite:user:{M}@x.db"),
        # Query parameters psycopg accepts, and whatever is named like a secret.
        ("postgresql://u@h/shop?password=Hunter2x", f"postgresql://u@h/shop?password={M}"),
        ("postgresql://u@h/shop?PassWord=Hunter2x", f"postgresql://u@h/shop?PassWord={M}"),
        ("postgresql://u@h/shop?pass%77ord=Hunter2x", f"postgresql://u@h/shop?pass%77ord={M}"),
        ("postgresql://u@h/shop?sslpassword=Hunter2x", f"postgresql://u@h/shop?sslpassword={M}"),
        ("postgresql://u@h/shop?passfile=/home/u/.pgpass", f"postgresql://u@h/shop?passfile={M}"),
        ("postgresql://u@h/shop?sslkey=/keys/u.key", f"postgresql://u@h/shop?sslkey={M}"),
        (
            "postgresql://u@h/shop?sslmode=require&token=T0k&access_token=A1&api_key=K2&apikey=K3"
            "&secret=S4&client_secret=S5&auth=A6",
            f"postgresql://u@h/shop?sslmode=require&token={M}&access_token={M}&api_key={M}"
            f"&apikey={M}&secret={M}&client_secret={M}&auth={M}",
        ),
        (
            "postgresql://u@h/shop?password=a&b&sslmode=require",
            f"postgresql://u@h/shop?password={M}&sslmode=require",
        ),
        (
            "postgresql://u@h/shop?user=me@corp&password=Hunter2x",
            f"postgresql://u@h/shop?user=me@corp&password={M}",
        ),
        (
            "postgresql://u:Hunter2x@h/shop?password=Other1x",
            f"postgresql://u:{M}@h/shop?password={M}",
        ),
        ("sqlite:relative.db?password=Hunter2x", f"sqlite:relative.db?password={M}"),
        # A libpq key=value string pasted instead of a URL.
        (
            "host=db port=5432 password=Hunter2x dbname=shop",
            f"host=db port=5432 password={M} dbname=shop",
        ),
        ("host=db password = Hunter2x", f"host=db password = {M}"),
        ("host=db password='correct horse' user=u", f"host=db password={M} user=u"),
        ("host=db password='it\\'s secret'", f"host=db password={M}"),
        ("host=db password=correct horse user=u", f"host=db password={M} user=u"),
        ("host=db sslpassword=Hunter2x sslkey=/keys/u.key", f"host=db sslpassword={M} sslkey={M}"),
        # Nothing to hide: shown as it is.
        (
            "postgresql://shop@db:5432/shop?sslmode=require",
            "postgresql://shop@db:5432/shop?sslmode=require",
        ),
        ("sqlite:////srv/sources/shop.sqlite3", "sqlite:////srv/sources/shop.sqlite3"),
        ("sqlite:///var/demo/shop.sqlite3", "sqlite:///var/demo/shop.sqlite3"),
        ("sqlite://:memory:", "sqlite://:memory:"),
        ("host=db dbname=shop", "host=db dbname=shop"),
    ],
)
def test_redact_masks_every_credential_a_url_can_carry(url, shown):
    assert redact(url) == shown


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        # libpq ends the password at the first "@" and resolves "2secret@127.0.0.1" as a host.
        ("postgresql://u:hunter@2secret@127.0.0.1:1/db", ["hunter", "2secret"]),
        # libpq takes "horse" for a keyword missing its "=" (a key=value string reaching psycopg).
        ("host=127.0.0.1 port=1 password=correct horse", ["correct", "horse"]),
        # libpq quotes a malformed percent-encoded password whole.
        ("postgresql://u:bad%zzsecret@127.0.0.1:1/db", ["bad%zzsecret"]),
        # libpq stops the userinfo at "/", and reads "pw5432" as the port.
        ("postgresql://u:pw5432/secret@127.0.0.1:1/db", ["pw5432", "secret"]),
        ("postgresql://u@127.0.0.1:1/db?password=Hunter2x", ["Hunter2x"]),
    ],
)
def test_postgresql_connection_errors_never_echo_a_credential(url, secrets):
    with pytest.raises(SourceUnavailable, match="Cannot connect to PostgreSQL") as error:
        PostgreSQLConnector(url)
    message = str(error.value)
    for secret in secrets:
        assert secret not in message
    # psycopg's own exception, with the raw text, is not chained into tracebacks.
    assert error.value.__cause__ is None and error.value.__suppress_context__


def test_a_bad_sqlite_url_is_reported_without_its_password():
    with pytest.raises(SourceUnavailable, match="Bad SQLite URL") as error:
        connect("sqlite://user:Hunter2x@x.db")
    assert "Hunter2x" not in str(error.value)
    assert f"user:{MASK}@x.db" in str(error.value)


def test_an_unsupported_dsn_is_reported_without_its_password():
    with pytest.raises(SourceUnavailable, match="Unsupported connection URL") as error:
        connect("host=db password=Hunter2x:x")
    assert "Hunter2x" not in str(error.value)


def test_redact_message_masks_the_whole_url_and_leaves_other_words_alone():
    url = "postgresql://shop:Hunter2x@db/shop?sslpassword=Other1x"
    text = f"could not reach {url} for user shop: Hunter2x and Other1x were refused"
    assert redact_message(text, url) == (
        f"could not reach postgresql://shop:{M}@db/shop?sslpassword={M} for user shop: "
        f"{M} and {M} were refused"
    )
