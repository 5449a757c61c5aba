"""mask_url hides passwords in any URL shape; Settings never print one."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from killreport.config import Settings, mask_url

PASSWORDS = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30)


@given(PASSWORDS, st.sampled_from(["postgresql", "amqp", "amqps", "postgres"]))
def test_no_password_survives_masking(password: str, scheme: str) -> None:
    encoded = quote(password, safe="")
    masked = mask_url(f"{scheme}://user:{encoded}@db.example:5432/name?sslmode=require")
    assert masked == f"{scheme}://user:***@db.example:5432/name?sslmode=require"


def test_shapes_without_a_password_are_left_alone() -> None:
    for url in ("postgresql://root@127.0.0.1:5432/x", "amqp://127.0.0.1/", "postgresql:///x"):
        assert mask_url(url) == url


def test_ipv6_host_and_empty_user_keep_their_shape() -> None:
    assert mask_url("amqp://guest:s3cret@[::1]:5672/vh") == "amqp://guest:***@[::1]:5672/vh"
    assert mask_url("postgresql://:s3cret@db/x") == "postgresql://:***@db/x"


def test_settings_repr_and_str_hide_passwords() -> None:
    settings = Settings(database_url="postgresql://root:s3cret@db/x",
                        rabbitmq_url="amqp://guest:s3cret@mq/", _env_file=None)
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings)
