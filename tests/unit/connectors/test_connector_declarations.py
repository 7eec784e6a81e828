"""Declaration files: validation errors name the file and field; env substitution; registry load."""
import pytest
import yaml

from connectors.declaration import DeclarationError, RetryPolicy, expand_env, load_declaration, parse_declaration
from connectors.errors import ConnectorError
from connectors.registry import Registry
from connectors.rest import RestConnector, expand_path
from connectors.soap import SoapConnector

SOAP = {
    "service": "population-registry", "department": "公安", "kind": "soap",
    "wsdl": "${SIM_URL:-http://127.0.0.1:8100}/population/soap?wsdl",
    "operations": {"verify-identity": {"operation": "VerifyIdentity", "request": {"id_number": "idNumber"}}},
}
REST = {
    "service": "e-licence", "department": "数据资源局", "kind": "rest", "base_url": "http://127.0.0.1:8100/e-licence",
    "operations": {"get-licence": {"method": "GET", "path": "/licences/{licence_id}"}},
}


def _with(base, **changes):
    data = yaml.safe_load(yaml.safe_dump(base))
    for dotted, value in changes.items():
        node, *path = data, *dotted.split("__")
        for key in path[:-1]:
            node = node[key]
        if value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    return data


def test_a_valid_declaration_gets_defaults():
    decl = parse_declaration(SOAP, "x.yaml", environ={})
    assert decl.wsdl == "http://127.0.0.1:8100/population/soap?wsdl"
    assert decl.timeout_seconds == 10 and decl.auth.type == "none" and decl.strict
    assert decl.retry == RetryPolicy(3, 0.5, 10.0) and decl.circuit_breaker.failure_threshold == 5
    assert decl.operations["verify-identity"].operation == "VerifyIdentity"


def test_env_substitution_uses_the_environment_then_the_default():
    assert expand_env({"a": ["${X}/p", "${Y:-d}"]}, {"X": "http://h"}) == {"a": ["http://h/p", "d"]}
    with pytest.raises(DeclarationError) as err:
        expand_env({"wsdl": "${MISSING}"}, {})
    assert "wsdl" in str(err.value) and "MISSING" in str(err.value)


@pytest.mark.parametrize("data, field", [
    (_with(SOAP, kind="corba"), "kind"),
    (_with(SOAP, wsdl=None), "wsdl"),
    (_with(SOAP, service="Population Registry"), "service"),
    (_with(SOAP, department=None), "department"),
    (_with(SOAP, timeout_seconds=0), "timeout_seconds"),
    (_with(SOAP, surprise=1), "surprise"),
    (_with(SOAP, operations={}), "operations"),
    (_with(SOAP, operations__verify_identity={"method": "GET"}), "operations"),
    (_with(SOAP, operations={"verify-identity": {"method": "GET", "path": "/x"}}), "operations.verify-identity.operation"),
    (_with(SOAP, operations={"VerifyIdentity": {"operation": "VerifyIdentity"}}), "operations.VerifyIdentity"),
    (_with(SOAP, operations={"v": {"operation": "V", "response": {"a[].b": "c"}}}), "operations.v.response"),
    (_with(SOAP, auth={"type": "wsse_username_token", "username": "u"}), "auth.password_env"),
    (_with(SOAP, auth={"type": "basic", "username": "u", "password_env": "lower-case"}), "auth.password_env"),
    (_with(SOAP, retry={"attempts": 0}), "retry.attempts"),
    (_with(SOAP, circuit_breaker={"reset_timeout_seconds": 0}), "circuit_breaker.reset_timeout_seconds"),
    (_with(SOAP, faults={"Client.X": "timeout"}), "faults"),
    (_with(REST, base_url=None), "base_url"),
    (_with(REST, operations={"get-licence": {"method": "FETCH", "path": "/x"}}), "operations.get-licence.method"),
    (_with(REST, operations={"get-licence": {"method": "GET", "path": "licences"}}), "operations.get-licence.path"),
    (_with(REST, operations={"get-licence": {"method": "GET", "path": "/l/{bad-name}"}}), "operations.get-licence.path"),
    (_with(REST, auth={"type": "wsse_username_token", "username": "u", "password_env": "P"}), "auth"),
    (_with(REST, wsdl="http://x/?wsdl"), "wsdl"),
])
def test_invalid_declarations_name_the_file_and_field(data, field):
    with pytest.raises(DeclarationError) as err:
        parse_declaration(data, "config/connectors/broken.yaml", environ={})
    message = str(err.value)
    assert message.startswith("config/connectors/broken.yaml: ") and field in message, message


def test_the_file_name_must_match_the_service(tmp_path):
    path = tmp_path / "other-name.yaml"
    path.write_text(yaml.safe_dump(SOAP, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DeclarationError, match="other-name.yaml: service"):
        load_declaration(path, environ={})


def test_unreadable_yaml_names_the_file(tmp_path):
    path = tmp_path / "e-licence.yaml"
    path.write_text("service: [unclosed", encoding="utf-8")
    with pytest.raises(DeclarationError, match="e-licence.yaml: cannot be read as YAML"):
        Registry.load(tmp_path, environ={})


def test_secrets_come_from_named_environment_variables(tmp_path):
    data = _with(SOAP, auth={"type": "wsse_username_token", "username": "govlink", "password_env": "POP_PASSWORD"})
    (tmp_path / "population-registry.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DeclarationError) as err:
        Registry.load(tmp_path, environ={})
    assert "auth.password_env" in str(err.value) and "POP_PASSWORD" in str(err.value)
    registry = Registry.load(tmp_path, environ={"POP_PASSWORD": "s3cret"})
    assert isinstance(registry.get("population-registry"), SoapConnector)


def test_registry_loads_every_file_and_refuses_unknown_names(tmp_path):
    for data in (SOAP, REST):
        (tmp_path / f"{data['service']}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("ignored")
    registry = Registry.load(tmp_path, environ={})
    assert registry.services() == ["e-licence", "population-registry"]
    assert isinstance(registry.get("e-licence"), RestConnector)
    assert registry.get("e-licence").retry.attempts == 3
    with pytest.raises(ConnectorError) as err:
        registry.get("tax-bureau")
    assert err.value.code == "unknown_service" and err.value.http_status == 404
    with pytest.raises(ConnectorError) as err:
        registry.get("e-licence").call("delete-licence", {})
    assert err.value.code == "unknown_operation"


def test_a_missing_directory_fails_loudly(tmp_path):
    with pytest.raises(DeclarationError, match="does not exist"):
        Registry.load(tmp_path / "nowhere")


def test_shipped_declarations_load():
    registry = Registry.load(environ={})
    assert registry.services() == ["e-licence", "enterprise-registry", "population-registry"]
    assert registry.get("population-registry").declaration.wsdl == "http://127.0.0.1:8100/population/soap?wsdl"


def test_retry_policy_backs_off_exponentially_with_a_cap():
    policy = RetryPolicy(attempts=5, backoff_seconds=0.5, max_backoff_seconds=3)
    assert [policy.wait_seconds(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3]


def test_rest_paths_fill_placeholders_as_single_segments():
    assert expand_path("/licences/{licence_id}", {"licence_id": "a/../b", "x": 1}) == ("/licences/a%2F..%2Fb", {"x": 1})
    with pytest.raises(KeyError):
        expand_path("/licences/{licence_id}", {})


def test_bad_payloads_are_reported_even_while_the_circuit_is_open(tmp_path):
    (tmp_path / "e-licence.yaml").write_text(yaml.safe_dump(REST, allow_unicode=True), encoding="utf-8")
    connector = Registry.load(tmp_path, environ={}).get("e-licence")
    for _ in range(connector.circuit.failure_threshold):
        connector.circuit.record_failure()
    assert connector.circuit.state == "open"
    assert _error_code(connector.call, "get-licence", {}) == "invalid_request"
    assert _error_code(connector.call, "get-licence", {"licence_id": ".."}) == "invalid_request"
    assert _error_code(connector.call, "get-licence", {"licence_id": "x"}) == "circuit_open"


def _error_code(fn, *args):
    with pytest.raises(ConnectorError) as err:
        fn(*args)
    return err.value.code
