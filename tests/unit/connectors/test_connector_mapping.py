"""Field mapping between canonical JSON and a department's fields (connectors/mapping.py)."""
from collections import OrderedDict
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.mapping import (MappingError, get_path, map_fields, map_request, map_response, mask_fields,
                                set_path, to_plain)
from kernel.identifiers import make_resident_id

ID = make_resident_id("340104", date(1985, 3, 12), 131)


def test_dotted_paths_read_and_write():
    data = {"a": {"b": {"c": 1}}}
    assert get_path(data, "a.b.c") == 1
    target = {}
    set_path(target, "x.y", 2)
    assert target == {"x": {"y": 2}}


def test_request_maps_to_their_names_including_nested_targets():
    mapping = {"name": "person.name", "id_number": "person.idNumber"}
    assert map_request({"name": "张伟", "id_number": ID}, mapping) == {"person": {"name": "张伟", "idNumber": ID}}


def test_request_refuses_unknown_fields_by_name_not_value():
    with pytest.raises(MappingError) as err:
        map_request({"name": "张伟", "idnumber": ID}, {"name": "name", "id_number": "idNumber"})
    assert "idnumber" in str(err.value) and ID not in str(err.value)


def test_request_leaves_out_absent_fields_and_passes_through_without_mapping():
    assert map_request({"name": "a"}, {"name": "n", "id_number": "i"}) == {"n": "a"}
    assert map_request({"anything": 1}, None) == {"anything": 1}
    with pytest.raises(MappingError):
        map_request({"anything": 1}, {})


def test_response_fills_missing_fields_with_none_for_a_stable_shape():
    assert map_response({"match": True}, {"match": "match", "reason": "reason"}) == {"match": True, "reason": None}


def test_lists_map_element_by_element():
    answer = {"members": [{"name": "张伟", "idNumber": ID}, {"name": "李娜", "idNumber": "x"}]}
    mapping = {"members[].name": "people[].name", "members[].idNumber": "people[].id_number"}
    assert map_response(answer, mapping) == {"people": [{"name": "张伟", "id_number": ID}, {"name": "李娜", "id_number": "x"}]}


def test_a_single_soap_element_counts_as_a_one_element_list_and_bare_lists_copy():
    assert map_response({"m": {"n": 1}}, {"m[].n": "k[].v"}) == {"k": [{"v": 1}]}
    assert map_response({"m": [1, 2]}, {"m[]": "k[]"}) == {"k": [1, 2]}
    assert map_response({}, {"m[].n": "k[].v"}) == {"k": []}


def test_list_segments_must_match_and_lists_must_be_lists():
    with pytest.raises(MappingError):
        map_fields({"m": []}, {"m[].n": "k.v"})
    with pytest.raises(MappingError):
        map_response({"m": "text"}, {"m[].n": "k[].v"})


def test_to_plain_turns_zeep_values_into_json():
    value = OrderedDict(a=Decimal("100"), b=Decimal("1.50"), c=date(2024, 1, 2), d=b"\x00\x01", e=[OrderedDict(f=1)])
    assert to_plain(value) == {"a": 100, "b": "1.50", "c": "2024-01-02", "d": "AAE=", "e": [{"f": 1}]}


def test_mask_fields_masks_declared_identifiers_only_and_copies():
    payload = {"id_number": ID, "name": "张伟", "members": [{"id_number": ID}], "keep": "x"}
    masked = mask_fields(payload, ["id_number", "name", "members[].id_number", "absent.path"])
    assert masked["id_number"] == "3401**********1310" and masked["name"] == "**"
    assert masked["members"][0]["id_number"].startswith("3401***") and masked["keep"] == "x"
    assert payload["id_number"] == ID  # the original is untouched


@given(st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.integers() | st.text(max_size=5), max_size=6))
def test_identity_mapping_round_trips(data):
    mapping = {k: k for k in data}
    assert map_response(map_request(data, mapping), mapping) == data
