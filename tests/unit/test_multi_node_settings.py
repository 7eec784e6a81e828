"""Several broker nodes and several database hosts in one setting (issue 22): parsed, redacted, used in turn."""
from __future__ import annotations

import pytest

from bus.connection import node_parameters, node_urls
from config.settings import Settings, SettingsError, redact_url
from store.db import make_engine

CLUSTER_AMQP = "amqp://govlink:s3cret@127.0.0.1:5701,127.0.0.1:5702,127.0.0.1:5703/%2F"


def test_one_url_with_several_hosts_is_one_url_per_node():
    assert node_urls(CLUSTER_AMQP) == [
        "amqp://govlink:s3cret@127.0.0.1:5701/%2F",
        "amqp://govlink:s3cret@127.0.0.1:5702/%2F",
        "amqp://govlink:s3cret@127.0.0.1:5703/%2F",
    ]


def test_a_single_node_url_is_unchanged():
    assert node_urls("amqp://govlink:govlink@127.0.0.1:5672/%2F") == ["amqp://govlink:govlink@127.0.0.1:5672/%2F"]


def test_urls_separated_by_commas_keep_their_query():
    urls = node_urls("amqp://u:p@a:5701/v?heartbeat=10, amqp://u:p@b:5702/v?heartbeat=10")
    assert urls == ["amqp://u:p@a:5701/v?heartbeat=10", "amqp://u:p@b:5702/v?heartbeat=10"]


def test_node_parameters_cover_every_node_with_the_same_timeouts():
    params = node_parameters(CLUSTER_AMQP, connect_timeout=3, heartbeat=15)
    assert [(p.host, p.port) for p in params] == [("127.0.0.1", 5701), ("127.0.0.1", 5702), ("127.0.0.1", 5703)]
    assert {p.heartbeat for p in params} == {15} and {p.socket_timeout for p in params} == {3}
    assert {p.virtual_host for p in params} == {"/"}


def test_redact_url_hides_the_password_of_a_multi_host_url():
    redacted = redact_url(CLUSTER_AMQP)
    assert "s3cret" not in redacted
    assert redacted == "amqp://govlink:***@127.0.0.1:5701,127.0.0.1:5702,127.0.0.1:5703/%2F"
    assert redact_url("postgresql://g:pw@h1:5711,h2:5712/db?target_session_attrs=read-write") == \
        "postgresql://g:***@h1:5711,h2:5712/db?target_session_attrs=read-write"


def test_a_database_url_naming_several_hosts_reaches_libpq_as_host_and_port_lists():
    engine = make_engine("postgresql://govlink:pw@127.0.0.1:5711,127.0.0.1:5712/govlink?target_session_attrs=read-write")
    _args, kwargs = engine.dialect.create_connect_args(engine.url)
    assert kwargs["host"] == "127.0.0.1,127.0.0.1" and kwargs["port"] == "5711,5712"
    assert kwargs["target_session_attrs"] == "read-write" and kwargs["dbname"] == "govlink"


def test_settings_refuse_an_amqp_setting_with_an_empty_node():
    with pytest.raises(SettingsError, match="GOVLINK_AMQP_URL"):
        Settings.from_env({"GOVLINK_AMQP_URL": "amqp://u:p@a:5701,,b:5702/%2F"})


def test_the_rotation_takes_every_node_in_turn_from_a_random_one():
    from bus.connection import NodeRotation

    rotation = NodeRotation(CLUSTER_AMQP, name="test")
    ports = [rotation.next().port for _ in range(6)]
    assert sorted(ports[:3]) == [5701, 5702, 5703] and ports[3:] == ports[:3]
    assert {p.client_properties["connection_name"] for p in rotation.nodes} == {"test"}
