"""The fee catalogue (`config/fees.yaml`): the self-service items citizens may create notices for.

Pure lookups; the gateway (routes/api/payments.py) decides who creates what. An item names its
agency, unit and fixed price in fen; `creators` says whether a person (payer = their resident ID
number) and/or an enterprise member (payer = the enterprise's USCC) may create it for themselves.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

import yaml

from config.settings import REPO_ROOT
from kernel.money import MAX_FEN

DEFAULT_PATH = REPO_ROOT / "config" / "fees.yaml"
CREATORS = ("person", "enterprise")


class FeeCatalogueError(ValueError):
    """`fees.yaml` is invalid; the message names the file, the item and the field."""


@dataclass(frozen=True)
class FeeItem:
    code: str
    name: str
    unit: str
    agency_code: str
    price_fen: int
    creators: frozenset[str]


class FeeCatalogue:
    def __init__(self, items: Iterable[FeeItem]):
        self._items = {item.code: item for item in items}

    def get(self, code: str) -> FeeItem | None:
        return self._items.get(code)

    def codes(self) -> list[str]:
        return sorted(self._items)

    @classmethod
    def parse(cls, raw, source: str = "<memory>", agencies: Mapping[str, str] | None = None) -> "FeeCatalogue":
        if not isinstance(raw, dict) or set(raw) != {"items"} or not isinstance(raw["items"], list):
            raise FeeCatalogueError(f"{source}: expected one list `items:`")
        items, seen = [], set()
        for index, spec in enumerate(raw["items"]):
            where = f"{source}: items[{index}]"
            fields = {"code", "name", "unit", "agency_code", "price_fen", "creators"}
            if not isinstance(spec, dict) or set(spec) != fields:
                raise FeeCatalogueError(f"{where}: give exactly {', '.join(sorted(fields))}")
            code = str(spec["code"])
            if code in seen:
                raise FeeCatalogueError(f"{where}.code: {code} is listed twice")
            seen.add(code)
            price = spec["price_fen"]
            if not isinstance(price, int) or isinstance(price, bool) or not 1 <= price <= MAX_FEN:
                raise FeeCatalogueError(f"{where}.price_fen: whole fen, 1 to {MAX_FEN}")
            if agencies is not None and spec["agency_code"] not in agencies:
                raise FeeCatalogueError(f"{where}.agency_code: {spec['agency_code']} is not an agency of payments.yaml")
            creators = spec["creators"]
            if not isinstance(creators, list) or not creators or set(creators) - set(CREATORS):
                raise FeeCatalogueError(f"{where}.creators: a non-empty list of {', '.join(CREATORS)}")
            items.append(FeeItem(code, str(spec["name"]), str(spec["unit"]), str(spec["agency_code"]), price,
                                 frozenset(creators)))
        return cls(items)


@lru_cache(maxsize=4)
def fee_catalogue(path: str | None = None) -> FeeCatalogue:
    """The catalogue of `path` (default config/fees.yaml), checked against the agencies of payments.yaml."""
    file = Path(path) if path else DEFAULT_PATH
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        agencies = (yaml.safe_load((REPO_ROOT / "config" / "payments.yaml").read_text(encoding="utf-8")) or {}).get("agencies")
    except (OSError, yaml.YAMLError) as exc:
        raise FeeCatalogueError(f"{file}: cannot be read as YAML: {exc}") from None
    return FeeCatalogue.parse(raw, str(file), agencies)
