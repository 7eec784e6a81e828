"""Access rights: client ids, deny by default, wildcards, load-time checks (connectors/access.py)."""
import pytest

from connectors.access import AccessConfigError, AccessDenied, AccessRights, parse_client_id
from connectors.registry import Registry
from kernel.identifiers import make_uscc

BODY = make_uscc(authority="1", category="1", region="340100", org_body="00298712")
CATALOGUE = {"population-registry": ["verify-identity", "get-household"], "e-licence": ["list-licences", "get-licence"]}


def _write(tmp_path, text):
    path = tmp_path / "access.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def rights(tmp_path):
    return AccessRights.load(_write(tmp_path, f"""
grants:
  - clients: [channel/web-portal, channel/kiosk]
    service: population-registry
    operations: [verify-identity]
  - clients: [GOV/{BODY.lower()}/case-system]
    service: e-licence
    operations: ["*"]
"""), catalogue=CATALOGUE)


def test_client_ids_parse_and_normalise():
    member = parse_client_id(f"GOV/{BODY.lower()}/case-system")
    assert member.kind == "member" and member.text == f"GOV/{BODY}/case-system" and member.subsystem == "case-system"
    assert parse_client_id("channel/web-portal").channel == "web-portal"


@pytest.mark.parametrize("bad", ["", "channel/", "channel/Web Portal", "GOV/notauscc/x", f"GOV/{BODY}",
                                 f"COM/{BODY}/x", f"GOV/{BODY}/../x", "web-portal", None])
def test_malformed_client_ids_are_refused(bad):
    with pytest.raises(ValueError):
        parse_client_id(bad)


def test_grants_and_deny_by_default(rights):
    rights.check("channel/web-portal", "population-registry", "verify-identity")
    rights.check(f"GOV/{BODY}/case-system", "e-licence", "get-licence")  # "*" covers every operation
    for client, service, op in [("channel/web-portal", "population-registry", "get-household"),
                                ("channel/mobile-app", "population-registry", "verify-identity"),
                                (f"GOV/{BODY}/other-system", "e-licence", "get-licence"),
                                (f"GOV/{BODY}/case-system", "population-registry", "verify-identity")]:
        assert not rights.allowed(client, service, op)
        with pytest.raises(AccessDenied) as err:
            rights.check(client, service, op)
        assert err.value.code == "forbidden" and err.value.http_status == 403 and not err.value.transient


def test_denial_messages_mask_the_member_code_and_never_echo_garbage(rights):
    with pytest.raises(AccessDenied) as err:
        rights.check(f"GOV/{BODY}/other", "e-licence", "get-licence")
    assert BODY not in err.value.message and BODY[:4] in err.value.message
    with pytest.raises(AccessDenied) as err:
        rights.check("<script>", "e-licence", "get-licence")
    assert "<script>" not in err.value.message


@pytest.mark.parametrize("text, field", [
    ("grants:\n  - {clients: [channel/kiosk], service: nope, operations: ['*']}", "grants[0].service"),
    ("grants:\n  - {clients: [channel/kiosk], service: e-licence, operations: [delete-all]}", "grants[0].operations"),
    ("grants:\n  - {clients: [kiosk], service: e-licence, operations: ['*']}", "grants[0].clients"),
    ("grants:\n  - {clients: [channel/kiosk], service: e-licence}", "grants[0].operations"),
    ("grant: []", "grant"),
])
def test_bad_access_files_fail_loudly_with_the_field(tmp_path, text, field):
    with pytest.raises(AccessConfigError) as err:
        AccessRights.load(_write(tmp_path, text), catalogue=CATALOGUE)
    assert "access.yaml" in str(err.value) and field in str(err.value)


def test_shipped_access_rules_match_the_shipped_declarations():
    rights = AccessRights.load(catalogue=Registry.load().catalogue())
    for channel in ("service-hall", "web-portal", "mobile-app", "kiosk", "hotline"):
        rights.check(f"channel/{channel}", "population-registry", "verify-identity")
    rights.check("channel/web-portal", "e-licence", "list-licences")
    assert not rights.allowed("channel/web-portal", "population-registry", "get-household")
    assert not rights.allowed("channel/hotline", "e-licence", "list-licences")


def test_a_client_id_is_checked_once_per_process(monkeypatch):
    """Issue 18's service_call: the gateway and the worker parse the caller's client id (its USCC check
    digit included) several times per department call; a pure function of the text, kept once parsed."""
    import connectors.access as access

    calls = []
    monkeypatch.setattr(access, "validate_uscc", lambda code: calls.append(code) or code.upper())
    text = f"GOV/{BODY}/repeat-once"
    assert parse_client_id(text) == parse_client_id(text) == parse_client_id(text)
    assert len(calls) == 1
    with pytest.raises(ValueError, match="must be a string"):
        parse_client_id(["GOV", BODY, "x"])  # unhashable: the same clear refusal as before
