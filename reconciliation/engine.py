"""The one matching engine: every pairing of two sources goes through :func:`match`.

A :class:`Pairing` declares how two sources meet:

1. a *group key* both sides share exactly (payment code, waybill number): records meet only
   inside their group, so the work is a dict lookup per record (a hash join, no O(n^2));
2. *refinements*, finer exact keys tried in order inside a group (the channel's transaction
   number), for groups with more than one record a side;
3. *tolerance rules* for what is left after the exact keys: an optional exact block key, an
   amount tolerance and a time window. Candidates are found through buckets of the amount, so
   the cost stays linear in what is left.

Whenever a record has more than one candidate that cannot be told apart, the engine reports an
:class:`Ambiguity`; it never picks one at random. Identical candidates (equal as records) are
interchangeable, and the first in sorted order is taken. The result does not depend on the order
of the input, with one exception kept for memory's sake: when several right records pair clean
with the one left record of a group, the first in the stream is the match and the later ones are
the surplus (a bill's line order is part of the bill).

Left records are held in memory (the ledger); right records (a statement or bill, possibly a
million lines) stream through, and a right record that pairs *clean* with the only record of
its group is counted and dropped at once. Everything that needs a person's eye comes back.

A pairing may also declare *fast keys* (C-level extractors such as ``operator.itemgetter``)
whose equality implies a clean pair: the streaming loop compares them before it calls
``clean`` (a Python function), so the common case runs no Python frame per record. (At a
million rows a day, :mod:`reconciliation.bulk` takes the clean pairs out in DuckDB first and
gives this engine the rest.)
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

Key = Callable[[Any], Hashable | None]  # None: the record has no value for this key


@dataclass(frozen=True)
class Refinement:
    """An exact key tried inside a group (e.g. the transaction number within a payment code)."""

    name: str
    left: Key
    right: Key


@dataclass(frozen=True)
class ToleranceRule:
    """Pair what exact keys left over when amounts differ by at most ``amount_fen`` and times
    by at most ``window_seconds`` (and the optional block keys are equal)."""

    name: str
    left_amount: Callable[[Any], int]
    right_amount: Callable[[Any], int]
    left_time: Callable[[Any], int]
    right_time: Callable[[Any], int]
    amount_fen: int = 0
    window_seconds: int = 0
    left_block: Key | None = None
    right_block: Key | None = None
    max_candidates: int = 50  # a bigger cluster is reported ambiguous without being listed further

    def __post_init__(self) -> None:
        if self.amount_fen < 0 or self.window_seconds < 0:
            raise ValueError("tolerances must not be negative")
        if (self.left_block is None) != (self.right_block is None):
            raise ValueError("declare both block keys or neither")


@dataclass(frozen=True)
class Pairing:
    """How two sources meet. ``clean(left, right)`` says a pair needs nobody's attention:
    such pairs are only counted (with ``amount(left)`` summed)."""

    name: str
    left_group: Key
    right_group: Key
    clean: Callable[[Any, Any], bool]
    amount: Callable[[Any], int]
    refinements: tuple[Refinement, ...] = ()
    tolerances: tuple[ToleranceRule, ...] = ()
    # Optional (left, right) extractors, C-level if they are to help: equal values imply ``clean``
    # (except for groups in ``fast_exclude``).
    fast_keys: tuple[Key, Key] | None = None
    fast_exclude: frozenset = frozenset()  # group keys the fast path must leave alone (carried items)


class Match(NamedTuple):
    """A pair that needs classifying; ``rule`` names the key or rule that made it."""

    rule: str
    left: Any
    right: Any


class Ambiguity(NamedTuple):
    """Records that could pair in more than one way under ``rule``; none of them is matched."""

    rule: str
    key: Hashable | None
    lefts: tuple
    rights: tuple


class Surplus(NamedTuple):
    """A record in a group whose other side is already paired: a second payment for one code,
    a waybill billed twice. ``partners`` are the records of the other side in that group."""

    side: str  # left | right
    key: Hashable
    record: Any
    partners: tuple


@dataclass
class Matching:
    """What :func:`match` found. Lists are sorted, so equal inputs give equal results."""

    clean_count: int = 0
    clean_amount_fen: int = 0
    pairs: list[Match] = field(default_factory=list)
    left_only: list = field(default_factory=list)
    right_only: list = field(default_factory=list)
    ambiguous: list[Ambiguity] = field(default_factory=list)
    surplus: list[Surplus] = field(default_factory=list)


class _Group:
    """A group that needs resolving at the end (more than one record, or a pending right)."""

    __slots__ = ("lefts", "rights", "paired_lefts")

    def __init__(self, lefts: list, rights: list, paired_lefts: list):
        self.lefts = lefts
        self.rights = rights
        self.paired_lefts = paired_lefts  # lefts already paired clean (their rights were dropped)


class _Claim:
    """A group whose only left record paired clean with a streamed right."""

    __slots__ = ("left",)

    def __init__(self, left):
        self.left = left


def match(pairing: Pairing, left: Iterable, right: Iterable) -> Matching:
    """Match ``left`` (held) against ``right`` (streamed) under ``pairing``."""
    return _match(pairing, left, right)


def _finish(result: Matching, orphan_left: list, orphan_right: list) -> Matching:
    result.left_only = sorted(orphan_left)
    result.right_only = sorted(orphan_right)
    result.pairs.sort()
    result.ambiguous.sort(key=lambda a: (a.rule, repr(a.key), a.lefts, a.rights))
    result.surplus.sort(key=lambda s: (s.side, repr(s.key), s.record))
    return result


def _match(pairing: Pairing, left: Iterable, right: Iterable) -> Matching:
    result = Matching()
    index: dict[Hashable, Any] = {}
    unkeyed_left: list = []
    left_group, right_group, clean, amount = pairing.left_group, pairing.right_group, pairing.clean, pairing.amount
    setdefault = index.setdefault
    size = 0
    for record in left:
        key = left_group(record)
        if key is None:
            unkeyed_left.append(record)
            continue
        current = setdefault(key, record)  # one hash lookup for the common case, a new group
        if len(index) != size:
            size += 1
            continue
        if type(current) is _Group:
            current.lefts.append(record)
        else:
            index[key] = _Group([current, record], [], [])

    unkeyed_right: list = []
    orphan_right: list = []
    clean_count = clean_amount = 0
    get = index.get
    fast_left, fast_right = pairing.fast_keys or (None, None)
    fast_exclude = pairing.fast_exclude
    for record in right:
        key = right_group(record)
        if key is None:
            unkeyed_right.append(record)
            continue
        current = get(key)
        kind = type(current)
        if current is None:
            orphan_right.append(record)
        elif kind is _Group:
            current.rights.append(record)
        elif kind is _Claim:  # a second right for a group already paired
            index[key] = _Group([], [record], [current.left])
        elif (fast_left is not None and fast_left(current) == fast_right(record) and key not in fast_exclude) \
                or clean(current, record):
            index[key] = _Claim(current)
            clean_count += 1
            clean_amount += amount(current)
        else:
            index[key] = _Group([current], [record], [])
    result.clean_count, result.clean_amount_fen = clean_count, clean_amount

    orphan_left: list = list(unkeyed_left)
    for key, current in index.items():
        kind = type(current)
        if kind is _Claim:
            continue
        if kind is _Group:
            _resolve_group(pairing, key, current, result, orphan_left, orphan_right)
        else:
            orphan_left.append(current)
    del index
    orphan_right.extend(unkeyed_right)

    for rule in pairing.tolerances:
        orphan_left, orphan_right = _apply_tolerance(rule, orphan_left, orphan_right, result)
    return _finish(result, orphan_left, orphan_right)


def _pair(pairing: Pairing, rule: str, left, right, result: Matching) -> None:
    if pairing.clean(left, right):
        result.clean_count += 1
        result.clean_amount_fen += pairing.amount(left)
    else:
        result.pairs.append(Match(rule, left, right))


def _resolve_group(pairing: Pairing, key, group: _Group, result: Matching, orphan_left: list,
                   orphan_right: list) -> None:
    lefts, rights = sorted(group.lefts), sorted(group.rights)
    paired_lefts = list(group.paired_lefts)
    paired_rights: list = []
    # Clean pairs first: a record equal in every compared field to its partner is the best match.
    for left in list(lefts):
        cleans = [r for r in rights if pairing.clean(left, r)]
        if cleans:  # identical candidates are interchangeable: the first in sorted order
            rights.remove(cleans[0])
            lefts.remove(left)
            _pair(pairing, pairing.name, left, cleans[0], result)
            paired_lefts.append(left)
            paired_rights.append(cleans[0])
    ambiguous_at: str | None = None
    for refinement in pairing.refinements:
        if not lefts or not rights:
            break
        by_value_left: dict = defaultdict(list)
        by_value_right: dict = defaultdict(list)
        for record in lefts:
            value = refinement.left(record)
            if value is not None:
                by_value_left[value].append(record)
        for record in rights:
            value = refinement.right(record)
            if value is not None:
                by_value_right[value].append(record)
        for value in sorted(by_value_left.keys() & by_value_right.keys(), key=repr):
            ls, rs = by_value_left[value], by_value_right[value]
            if len(ls) == 1 and len(rs) == 1:
                lefts.remove(ls[0])
                rights.remove(rs[0])
                _pair(pairing, refinement.name, ls[0], rs[0], result)
                paired_lefts.append(ls[0])
                paired_rights.append(rs[0])
            elif _all_equal(ls) and _all_equal(rs):
                for left, right_record in zip(ls, rs):
                    lefts.remove(left)
                    rights.remove(right_record)
                    _pair(pairing, refinement.name, left, right_record, result)
                    paired_lefts.append(left)
                    paired_rights.append(right_record)
            else:
                ambiguous_at = refinement.name
    if len(lefts) == 1 and len(rights) == 1 and ambiguous_at is None:
        _pair(pairing, pairing.name, lefts[0], rights[0], result)
        return
    if lefts and rights:
        result.ambiguous.append(Ambiguity(ambiguous_at or pairing.name, key, tuple(lefts), tuple(rights)))
        return
    for record in rights:
        if paired_lefts:
            result.surplus.append(Surplus("right", key, record, tuple(sorted(paired_lefts))))
        else:
            orphan_right.append(record)
    for record in lefts:
        if paired_rights or group.paired_lefts:
            result.surplus.append(Surplus("left", key, record, tuple(sorted(paired_rights))))
        else:
            orphan_left.append(record)


def _all_equal(records: list) -> bool:
    return all(record == records[0] for record in records)


def _apply_tolerance(rule: ToleranceRule, lefts: list, rights: list, result: Matching) -> tuple[list, list]:
    """Pair leftovers under ``rule``: a pair only when each is the other's sole candidate."""
    if not lefts or not rights:
        return lefts, rights
    width = rule.amount_fen + 1
    buckets: dict[tuple, list[int]] = defaultdict(list)
    for j, record in enumerate(rights):
        block = rule.right_block(record) if rule.right_block else 0
        if block is not None:
            buckets[(block, rule.right_amount(record) // width)].append(j)
    left_candidates: list[list[int]] = []
    right_candidates: dict[int, list[int]] = defaultdict(list)
    for i, record in enumerate(lefts):
        found: list[int] = []
        block = rule.left_block(record) if rule.left_block else 0
        if block is not None:
            amount, moment = rule.left_amount(record), rule.left_time(record)
            bucket = amount // width
            for b in (bucket - 1, bucket, bucket + 1):
                for j in buckets.get((block, b), ()):
                    other = rights[j]
                    if (abs(rule.right_amount(other) - amount) <= rule.amount_fen
                            and abs(rule.right_time(other) - moment) <= rule.window_seconds):
                        found.append(j)
                        if len(found) > rule.max_candidates:
                            break
        left_candidates.append(found)
        for j in found:
            right_candidates[j].append(i)
    used_left: set[int] = set()
    used_right: set[int] = set()
    seen_clusters: set[tuple] = set()
    for i, found in enumerate(left_candidates):
        if not found:
            continue
        if len(found) == 1 and len(right_candidates[found[0]]) == 1:
            j = found[0]
            used_left.add(i)
            used_right.add(j)
            result.pairs.append(Match(rule.name, lefts[i], rights[j]))
            continue
        cluster_left, cluster_right = _cluster(i, left_candidates, right_candidates)
        signature = (tuple(cluster_left), tuple(cluster_right))
        if signature in seen_clusters:
            continue
        seen_clusters.add(signature)
        used_left.update(cluster_left)
        used_right.update(cluster_right)
        result.ambiguous.append(Ambiguity(rule.name, None, tuple(sorted(lefts[k] for k in cluster_left)),
                                          tuple(sorted(rights[k] for k in cluster_right))))
    return ([r for i, r in enumerate(lefts) if i not in used_left],
            [r for j, r in enumerate(rights) if j not in used_right])


def _cluster(start: int, left_candidates: list[list[int]], right_candidates: dict[int, list[int]]):
    """The connected records around left ``start`` in the candidate graph."""
    cluster_left, cluster_right = {start}, set()
    todo = [("l", start)]
    while todo:
        side, k = todo.pop()
        neighbours = left_candidates[k] if side == "l" else right_candidates[k]
        seen, other = (cluster_right, "r") if side == "l" else (cluster_left, "l")
        for n in neighbours:
            if n not in seen:
                seen.add(n)
                todo.append((other, n))
    return sorted(cluster_left), sorted(cluster_right)
