"""The fee catalogue (config/fees.yaml, payment_bridge/fees.py): self-service items at fixed prices."""
import pytest

from payment_bridge.fees import FeeCatalogue, FeeCatalogueError, fee_catalogue

ITEM = {"code": "A-1", "name": "邮寄费", "unit": "件", "agency_code": "340100-SJ-ZW", "price_fen": 1200,
        "creators": ["person"]}


def test_the_shipped_catalogue_loads_with_declared_agencies():
    catalogue = fee_catalogue()
    item = catalogue.get("SJ-YJ-01")
    assert item.price_fen == 1200 and item.creators == {"person", "enterprise"}
    assert catalogue.get("FK-0001") is None


@pytest.mark.parametrize("change,problem", [
    ({"price_fen": 12.5}, "price_fen"), ({"price_fen": 0}, "price_fen"), ({"agency_code": "nobody"}, "agency_code"),
    ({"creators": ["anyone"]}, "creators"), ({"creators": []}, "creators"), ({"extra": 1}, "give exactly"),
])
def test_bad_items_are_refused_naming_the_field(change, problem):
    with pytest.raises(FeeCatalogueError, match=problem):
        FeeCatalogue.parse({"items": [{**ITEM, **change}]}, agencies={"340100-SJ-ZW": "x"})


def test_a_code_listed_twice_is_refused():
    with pytest.raises(FeeCatalogueError, match="twice"):
        FeeCatalogue.parse({"items": [ITEM, ITEM]})
