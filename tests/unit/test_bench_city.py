"""The city generator (bench/city.py) writes the log's chain by hand for speed: every record it
writes must hash, by chain.record_hash, to the hash it wrote, and link to the one before it."""
import json
from datetime import date

import pytest

from bench.city import Chain, City, Lines
from bus.message_log.chain import GENESIS, HASHED_COLUMNS, record_hash


@pytest.mark.parametrize("chain_format", [2, 1])
def test_the_hand_written_chain_is_the_one_verify_recomputes(chain_format):
    city = City(0.0005, 18, date(2026, 12, 7))  # 500 cases
    first_n, slots = city.chunks(size=200)[0]
    chunk = City(city.scale, city.seed, city.today, first_n, chain_format)
    out = Lines()
    for n, at in enumerate(chunk.starts(slots), first_n):
        chunk.case(out, n, at)
    text = Chain(chain_format).lines(chunk.records)
    prev, count = GENESIS, 0
    for line in text.splitlines():
        values = [None if v == "\\N" else v for v in line.split("\t")]
        row = dict(zip(HASHED_COLUMNS, values[:11]))
        row["seq"] = int(row["seq"])
        assert values[11] == prev and int(values[13]) == chain_format
        assert record_hash(prev, row, chain_format) == values[12], row["seq"]
        assert json.loads(row["body"])["case_id"] == row["case_id"]
        prev, count = values[12], count + 1
    assert count == row["seq"] > 1000 and out.tables["supervision_steps"] and out.tables["payment_notices"]


def test_the_default_chain_is_the_format_chain_append_writes():
    from bus.message_log.chain import CHAIN_FORMAT

    assert CHAIN_FORMAT == 2 and City(0.0005, 18, date(2026, 12, 7)).chain_format == Chain().chain_format == 2
