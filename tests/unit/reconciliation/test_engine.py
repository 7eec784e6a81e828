"""The matching engine: exact keys, refinements, tolerance rules, ambiguity, determinism."""
import random
from operator import itemgetter

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.engine import Pairing, Refinement, ToleranceRule, match

# Records here are plain tuples: (key, ref, amount, time)
PAIRING = Pairing(
    name="key", left_group=itemgetter(0), right_group=itemgetter(0),
    clean=lambda l, r: l[1:3] == r[1:3], amount=itemgetter(2),
    refinements=(Refinement("ref", lambda l: l[1] or None, lambda r: r[1] or None),),
)


def test_clean_pairs_are_counted_not_returned():
    left = [("A", "t1", 100, 0), ("B", "t2", 200, 0)]
    right = [("B", "t2", 200, 5), ("A", "t1", 100, 9)]
    result = match(PAIRING, left, right)
    assert (result.clean_count, result.clean_amount_fen) == (2, 300)
    assert not (result.pairs or result.left_only or result.right_only or result.ambiguous or result.surplus)


def test_one_sided_records_and_differences():
    result = match(PAIRING, [("A", "t1", 100, 0), ("C", "t3", 5, 0)], [("A", "t1", 101, 0), ("D", "t4", 7, 0)])
    assert [p.rule for p in result.pairs] == ["ref"]  # the finest exact key that paired them
    assert result.left_only == [("C", "t3", 5, 0)]
    assert result.right_only == [("D", "t4", 7, 0)]


def test_refinement_pairs_inside_a_group_and_the_rest_is_surplus():
    left = [("A", "t1", 100, 0)]
    right = [("A", "t2", 100, 1), ("A", "t1", 100, 0)]
    result = match(PAIRING, left, right)
    assert result.clean_count == 1
    assert [(s.side, s.record) for s in result.surplus] == [("right", ("A", "t2", 100, 1))]


def test_indistinguishable_candidates_are_ambiguous_never_picked():
    left = [("A", "", 100, 0)]  # no reference to tell the two apart
    right = [("A", "t1", 150, 0), ("A", "t2", 160, 0)]
    result = match(PAIRING, left, right)
    assert result.pairs == [] and result.clean_count == 0
    [amb] = result.ambiguous
    assert amb.lefts == (("A", "", 100, 0),) and len(amb.rights) == 2


def test_identical_candidates_are_interchangeable():
    left = [("A", "t1", 100, 0), ("A", "t1", 100, 0)]
    right = [("A", "t1", 100, 0), ("A", "t1", 100, 0)]
    assert match(PAIRING, left, right).clean_count == 2


TOLERANT = Pairing(
    name="key", left_group=lambda l: None, right_group=lambda r: None,  # nothing matches exactly
    clean=lambda l, r: False, amount=itemgetter(2),
    tolerances=(ToleranceRule("amount±2,60s", left_amount=itemgetter(2), right_amount=itemgetter(2),
                              left_time=itemgetter(3), right_time=itemgetter(3), amount_fen=2,
                              window_seconds=60),),
)


def test_tolerance_rule_pairs_a_sole_candidate_within_amount_and_window():
    result = match(TOLERANT, [("x", "", 1000, 100)], [("y", "", 1002, 150), ("z", "", 1000, 1000)])
    assert [(p.rule, p.right) for p in result.pairs] == [("amount±2,60s", ("y", "", 1002, 150))]
    assert result.right_only == [("z", "", 1000, 1000)]


def test_tolerance_rule_outside_amount_or_window_does_not_pair():
    result = match(TOLERANT, [("x", "", 1000, 100)], [("y", "", 1003, 100), ("z", "", 1000, 161)])
    assert result.pairs == [] and len(result.left_only) == 1 and len(result.right_only) == 2


def test_tolerance_rule_with_two_candidates_is_ambiguous():
    result = match(TOLERANT, [("x", "", 1000, 100)], [("y", "", 1001, 110), ("z", "", 999, 90)])
    assert result.pairs == []
    [amb] = result.ambiguous
    assert len(amb.rights) == 2 and amb.rule == "amount±2,60s"


def test_a_million_candidates_stay_linear():
    """A tolerance pass over many leftovers uses buckets, not all pairs (would take minutes)."""
    left = [(None, "", i * 10, 0) for i in range(20_000)]
    right = [(None, "", i * 10 + 1, 0) for i in range(20_000)]
    result = match(TOLERANT, left, right)
    assert len(result.pairs) == 20_000


records = st.lists(st.tuples(st.sampled_from("ABCDE"), st.sampled_from(["", "t1", "t2"]),
                             st.integers(1, 5), st.integers(0, 3)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(records, records, st.randoms())
def test_the_result_does_not_depend_on_input_order(left, right, rnd):
    first = match(PAIRING, left, right)
    shuffled_left, shuffled_right = left[:], right[:]
    rnd.shuffle(shuffled_left)
    rnd.shuffle(shuffled_right)
    second = match(PAIRING, shuffled_left, shuffled_right)
    assert (first.clean_count, first.pairs, first.left_only, first.right_only, first.ambiguous) == \
           (second.clean_count, second.pairs, second.left_only, second.right_only, second.ambiguous)
    # every record is accounted for exactly once
    assert first.clean_count * 2 + 2 * len(first.pairs) + len(first.left_only) + len(first.right_only) + \
        sum(len(a.lefts) + len(a.rights) for a in first.ambiguous) + len(first.surplus) == len(left) + len(right)


def test_equal_inputs_give_equal_results():
    rnd = random.Random(7)
    left = [(rnd.choice("ABC"), rnd.choice(["t1", "t2"]), rnd.randrange(3), 0) for _ in range(50)]
    right = [(rnd.choice("ABC"), rnd.choice(["t1", "t2"]), rnd.randrange(3), 0) for _ in range(50)]
    assert match(PAIRING, left, right) == match(PAIRING, list(left), list(right))
