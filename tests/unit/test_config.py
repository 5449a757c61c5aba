"""mask_url on the URL shapes people really type, and Settings refusing URLs the libraries would misread.

tests/unit/test_config_masking.py covers well-formed URLs with percent-encoded passwords and the
plain repr()/str() of Settings; this file covers the malformed and unusual shapes.
"""

from __future__ import annotations

from urllib.parse import quote

import pydantic
import pytest
import yarl
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic_settings import SettingsError
from rich.pretty import pretty_repr
from sqlalchemy.engine import make_url

from killreport.cli.errors import one_line
from killreport.config import Settings, mask_url, sqlalchemy_url

SECRET = "Zq9-s3cret"

# Reserved characters raw in the password: the shapes that defeat a urlsplit-based mask.
RAW_PASSWORDS = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=24)
HOSTS = st.sampled_from(["db.example", "127.0.0.1", "[::1]", "[2001:db8::7]", "mq"])
PORTS = st.sampled_from(["", ":5432", ":5672", ":1"])
PATHS = st.sampled_from(["", "/", "/killreport", "/kr_vhost", "/%2F"])
QUERIES = st.sampled_from(["", "?sslmode=require", "?heartbeat=30&connection_name=kr", "#frag"])
USERS = st.sampled_from(["", "root", "guest", "kr%40ops", "u.s-e_r"])


@pytest.mark.parametrize("url,masked", [
    # No password: left exactly as written.
    ("postgresql://root@127.0.0.1:5432/x", "postgresql://root@127.0.0.1:5432/x"),
    ("amqp://127.0.0.1:5672/", "amqp://127.0.0.1:5672/"),
    ("postgresql:///killreport", "postgresql:///killreport"),
    ("postgresql://[::1]:5432/x", "postgresql://[::1]:5432/x"),
    ("postgresql://root@db/x?application_name=kr&sslmode=require",
     "postgresql://root@db/x?application_name=kr&sslmode=require"),
    # Percent-encoded @ : / % in the password, and an IPv6 host keeping its brackets.
    (f"amqp://guest:{quote(SECRET + '@:/%', safe='')}@[::1]:5672/vh", "amqp://guest:***@[::1]:5672/vh"),
    (f"postgresql://root:{SECRET}@[2001:db8::1]/x", "postgresql://root:***@[2001:db8::1]/x"),
    # An empty password and an empty user name.
    ("postgresql://root:@db/x", "postgresql://root:***@db/x"),
    (f"postgresql://:{SECRET}@db/x", "postgresql://:***@db/x"),
    # The password as a parameter, which libpq and asyncpg both honour.
    (f"postgresql://root@db:5432/x?password={SECRET}&sslmode=require",
     "postgresql://root@db:5432/x?password=***&sslmode=require"),
    (f"postgresql://root@db/x?sslmode=verify-full&sslpassword={SECRET}",
     "postgresql://root@db/x?sslmode=verify-full&sslpassword=***"),
    (f"postgresql://root@db/x?PASSWORD={SECRET}#f", "postgresql://root@db/x?PASSWORD=***#f"),
    # A libpq key/value string where a URL was expected.
    (f"host=db user=root password={SECRET} dbname=x", "host=db user=root password=*** dbname=x"),
    (f"host=db password='{SECRET} x' dbname=x", "host=db password=*** dbname=x"),
    # No scheme at all.
    (f"root:{SECRET}@db:5432/x", "root:***@db:5432/x"),
    # Reserved characters typed raw into the password.
    (f"amqp://guest:{SECRET}/x@mq:5672/vh", "amqp://guest:***@mq:5672/vh"),
    (f"amqp://guest:12/{SECRET}@mq:5672/vh", "amqp://guest:***@mq:5672/vh"),
    (f"postgresql://root:a#{SECRET}@db/x", "postgresql://root:***@db/x"),
    (f"postgresql://root:a?{SECRET}@db/x", "postgresql://root:***@db/x"),
    (f"postgresql://root:{SECRET}@x@db/x", "postgresql://root:***@db/x"),
    (f"postgresql://root:{SECRET}:x@db/x", "postgresql://root:***@db/x"),
    # A password without its host: the "port" could be the password, so it goes.
    (f"amqp://guest:{SECRET}", "amqp://guest:***"),
    (f"amqp://guest:{SECRET}/vh", "amqp://guest:***/vh"),
])
def test_mask_url_on_tricky_shapes(url: str, masked: str) -> None:
    """Each shape masks to exactly what an operator should see."""
    assert mask_url(url) == masked
    assert SECRET not in mask_url(url)


@given(USERS, RAW_PASSWORDS, HOSTS, PORTS, PATHS, QUERIES, st.sampled_from(["postgresql", "amqp", ""]))
def test_a_raw_password_never_survives_whatever_it_contains(
        user: str, password: str, host: str, port: str, path: str, query: str, scheme: str) -> None:
    """Typed raw, a password with @ : / ? # % & = or spaces is still hidden, all of it."""
    # Without a scheme, "guest://x@db" is a URL of scheme "guest" as much as user "guest" with
    # password "//x"; only the first reading is sensible, so that one shape is left out.
    assume(scheme or not password.startswith("//"))
    prefix = f"{scheme}://" if scheme else ""
    url = f"{prefix}{user}:{password}@{host}{port}{path}{query}"
    assert mask_url(url) == f"{prefix}{user}:***@{host}{port}{path}{query}"


@given(st.sampled_from(["password", "sslpassword", "Password", "db_pass", "token"]),
       st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=24).filter(
           lambda v: not any(c in "&;#'" or c.isspace() for c in v)))
def test_a_secret_parameter_never_survives(key: str, value: str) -> None:
    """`?password=...` and its relatives are hidden, and the parameters around them kept."""
    url = f"postgresql://root@db/x?sslmode=require&{key}={value}&application_name=kr"
    assert mask_url(url) == f"postgresql://root@db/x?sslmode=require&{key}=***&application_name=kr"


@given(st.text(max_size=80))
def test_mask_url_never_raises(url: str) -> None:
    """It runs inside error handling, so it must not fail on the very URL that caused the error."""
    assert isinstance(mask_url(url), str)


def test_sqlalchemy_url_error_masks_a_schemeless_url() -> None:
    """The one error that quotes DATABASE_URL quotes it masked, even without a scheme."""
    with pytest.raises(ValueError, match="must start with") as caught:
        sqlalchemy_url(f"root:{SECRET}@db/x")
    assert SECRET not in str(caught.value)


@given(RAW_PASSWORDS, st.sampled_from(["db.example", "127.0.0.1", "[::1]"]))
def test_accepted_urls_read_the_same_in_every_library(password: str, host: str) -> None:
    """Percent-encoded, any password passes the check, and yarl (aio-pika) and SQLAlchemy both
    read back exactly that password, so their own masking hides it."""
    encoded = quote(password, safe="")
    settings = Settings(database_url=f"postgresql://root:{encoded}@{host}:5432/x",
                        rabbitmq_url=f"amqp://guest:{encoded}@{host}:5672/vh", _env_file=None)
    rabbit = yarl.URL(settings.rabbitmq_url)
    assert rabbit.password == password and rabbit.port == 5672
    database = make_url(sqlalchemy_url(settings.database_url))
    assert database.password == password and database.port == 5432


@pytest.mark.parametrize("field,url", [
    ("database_url", f"root:{SECRET}@db:5432/x"),
    ("database_url", f"host=db password={SECRET}"),
    ("database_url", f"mysql://root:{SECRET}@db/x"),
    ("database_url", f"postgresql://root:{SECRET}/x@db/x"),
    ("database_url", f"postgresql://root:a#{SECRET}@db/x"),
    ("database_url", f"postgresql://root:a?{SECRET}@db/x"),
    ("database_url", f"postgresql://root:{SECRET}@x@db/x"),
    ("database_url", f"postgresql://root:{SECRET}"),
    ("database_url", f"postgresql://root:{SECRET}@db:port/x"),
    ("rabbitmq_url", f"guest:{SECRET}@mq:5672/vh"),
    ("rabbitmq_url", f"http://guest:{SECRET}@mq:5672/vh"),
    ("rabbitmq_url", f"amqp://guest:12/{SECRET}@mq:5672/vh"),
    ("rabbitmq_url", f"amqp://guest:{SECRET}@mq:99999/vh"),
    ("r2z2_url", f"ftp://guest:{SECRET}@feed/r2z2"),
    ("r2z2_url", f"r2z2.example:{SECRET}"),
])
def test_urls_the_libraries_would_misread_are_refused_without_quoting_them(field: str, url: str) -> None:
    """Refused at startup, and neither the error's text nor the CLI's line quotes the value."""
    with pytest.raises(pydantic.ValidationError) as caught:
        Settings(**{field: url}, _env_file=None)  # type: ignore[arg-type]
    line = one_line(caught.value)
    assert line.startswith(f"invalid setting {field.upper()}: "), line
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value) and SECRET not in line


@pytest.mark.parametrize("url", [
    "postgresql://root@127.0.0.1:5432/killreport",
    "postgres://root@db/x",
    "postgresql+asyncpg://root:pw@db/x",
    "postgresql:///killreport",
    "postgresql://root@[::1]:5432/x",
    f"postgresql://root@db/x?password={SECRET}&application_name=kr",
    f"postgresql://root:{quote(SECRET + '@/?#%', safe='')}@db/x",
])
def test_good_database_urls_are_accepted(url: str) -> None:
    """Every shape the CLI worked with before the check still works."""
    assert Settings(database_url=url, _env_file=None).database_url == url


def test_settings_pretty_printed_by_rich_hide_passwords() -> None:
    """rich's pretty printer (and so a rich traceback with locals) shows the URLs masked."""
    settings = Settings(database_url=f"postgresql://root@db/x?password={SECRET}",
                        rabbitmq_url=f"amqp://guest:{SECRET}@mq/", _env_file=None)
    shown = pretty_repr(settings)
    assert "rabbitmq_url" in shown and SECRET not in shown, shown
    assert SECRET not in repr(settings) and SECRET not in f"{settings!s}"


def test_a_setting_that_cannot_be_decoded_is_named_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-JSON RETRY_DELAYS_S is an expected one-line error naming the variable, not its value."""
    monkeypatch.setenv("RETRY_DELAYS_S", f"[5, {SECRET}]")
    with pytest.raises(SettingsError) as caught:
        Settings(_env_file=None)
    line = one_line(caught.value)
    assert line.startswith("invalid setting RETRY_DELAYS_S: cannot be parsed"), line
    assert SECRET not in line


def test_the_feed_settings_keep_a_path_prefix_and_refuse_a_cap_below_one() -> None:
    settings = Settings(r2z2_url="http://127.0.0.1:8081/r2z2", _env_file=None)
    assert settings.r2z2_url == "http://127.0.0.1:8081/r2z2" and settings.r2z2_max_rps == 10
    assert settings.killmail_feed
    with pytest.raises(pydantic.ValidationError) as caught:
        Settings(r2z2_max_rps=0, _env_file=None)
    assert one_line(caught.value).startswith("invalid setting R2Z2_MAX_RPS: ")
