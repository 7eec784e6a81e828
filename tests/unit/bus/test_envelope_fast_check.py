"""The envelope's fast check (issue 18's service_call: the marshmallow schema was some 4% of the gateway's
and of the connector worker's CPU per department call, four validations per call). The fast check may only
accept what the schema accepts; anything else goes to the schema, which gives the reason."""
import uuid
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from bus.envelope import EnvelopeSchema, _plainly_valid, new_envelope, reply_to, encode

SCHEMA = EnvelopeSchema()


def _request(**kw):
    return new_envelope("service.call", {"name": "王晓明", "id_number": "340104198803093179"},
                        client="GOV/91340100MA2N1B2C3D/case-system", service="population-registry",
                        operation="verify-identity", user="user-1", case_id="CASE-1",
                        principal={"subject": "user-1", "id_number": None, "acting_for": None, "level": 2},
                        deadline=datetime.now(timezone.utc) + timedelta(seconds=10), **kw)


def test_the_envelopes_govlink_sends_take_the_fast_check():
    request = _request()
    reply = reply_to(request, encode(request), "service.result", {"result": {"match": True}},
                     client="govlink/connector-worker")
    plain = new_envelope("payment.paid", {"notice": "N-1"}, client="channel/web-portal")
    for envelope in (request, reply, plain):
        assert _plainly_valid(envelope), envelope
        assert SCHEMA.validate(envelope) == {}


ODD = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 5), st.floats(allow_nan=False), st.binary(max_size=20),
    st.sampled_from(["", " ", "a\n", "x" * 65, "x" * 201, "x" * 19, "a.b", "a.b\n", "A.b", "svc", "Svc", "svc\n",
                     "channel/web", "channel/Web", "govlink/x", "GOV/91340100MA2N1B2C3D/case", "GOV/short/case",
                     str(uuid.uuid4()), str(uuid.uuid4()).upper(), uuid.uuid4().hex, "{%s}" % uuid.uuid4(),
                     "2026-12-07T04:00:00+00:00", "2026-12-07T04:00:00", "2026-13-07T04:00:00+00:00",
                     "2026-12-07 04:00:00.5+08:00", "2026-12-07", "0" * 64, "0" * 63, "G" * 64]),
    st.text(max_size=70), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(uuid.uuid4), st.builds(lambda: datetime.now(timezone.utc)),
)
FIELDS = sorted(EnvelopeSchema().fields) + ["surprise"]
PRINCIPAL_FIELDS = ["subject", "id_number", "acting_for", "level", "surprise"]


@settings(max_examples=1500, deadline=None)
@given(changes=st.dictionaries(st.sampled_from(FIELDS), ODD, max_size=3),
       removed=st.lists(st.sampled_from(FIELDS), max_size=2),
       principal_changes=st.dictionaries(st.sampled_from(PRINCIPAL_FIELDS), ODD, max_size=2),
       principal_removed=st.lists(st.sampled_from(PRINCIPAL_FIELDS), max_size=1))
def test_the_fast_check_never_accepts_what_the_schema_refuses(changes, removed, principal_changes, principal_removed):
    envelope = {**_request(), **changes}
    for name in removed:
        envelope.pop(name, None)
    if isinstance(envelope.get("principal"), dict) and "principal" not in changes:
        envelope["principal"] = {**envelope["principal"], **principal_changes}
        for name in principal_removed:
            envelope["principal"].pop(name, None)
    if _plainly_valid(envelope):
        assert SCHEMA.validate(envelope) == {}, envelope
