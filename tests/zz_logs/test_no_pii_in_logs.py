"""Runs last (`zz_`): no log written during the suite holds an unmasked resident ID number or USCC (R11).

Scanned: every file the test processes wrote to GOVLINK_TEST_LOG_DIR during this session
(tests/conftest.py sends each process's records there as JSON lines), and what Keycloak and the
gateway (gunicorn, under var/) wrote since the session started. A candidate is any 18-character
token shaped like either identifier; it counts only if it validates (check character, date,
region), so masked forms (`3401**********0213`) and random ids pass.
"""
from __future__ import annotations

import re
from pathlib import Path

from kernel.identifiers import InvalidIdentifier, mask, validate_resident_id, validate_uscc
from tests.conftest import LOG_DIR, LOG_OFFSETS, SESSION_STARTED, other_logs

CANDIDATE = re.compile(r"(?<![0-9A-Za-z])([0-9]{17}[0-9Xx]|[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10})"
                       r"(?![0-9A-Za-z])")


def _valid(token: str) -> str | None:
    for kind, validate in (("resident ID number", validate_resident_id), ("USCC", validate_uscc)):
        try:
            validate(token)
            return kind
        except InvalidIdentifier:
            continue
    return None


def find_identifiers(text: str) -> list[tuple[str, str]]:
    """(kind, masked value) of every valid identifier in `text`."""
    return [(kind, mask(m.group(1))) for m in CANDIDATE.finditer(text) if (kind := _valid(m.group(1)))]


def _read(path: Path, offset: int = 0) -> str:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", errors="replace")


def test_the_scanner_finds_what_it_must():
    from kernel.identifiers import make_resident_id, make_uscc

    rid, uscc = make_resident_id(), make_uscc()
    assert [k for k, _ in find_identifiers(f'{{"msg": "payer {rid} of {uscc}"}}')] == ["resident ID number", "USCC"]
    assert find_identifiers(f"{mask(rid)} {mask(uscc)} {rid[:17]}0 id=a{rid}") == []


def test_no_unmasked_identifiers_in_the_logs_of_this_run():
    sources: list[tuple[Path, int]] = []
    if LOG_DIR.is_dir():
        sources += [(p, 0) for p in sorted(LOG_DIR.iterdir()) if p.is_file() and p.stat().st_mtime >= SESSION_STARTED]
    sources += [(p, LOG_OFFSETS.get(str(p), 0)) for p in other_logs()]
    findings, scanned = [], 0
    for path, offset in sources:
        for number, line in enumerate(_read(path, offset).splitlines(), 1):
            scanned += 1
            for kind, masked in find_identifiers(line):
                findings.append(f"{path.name}:{number} (from byte {offset}): unmasked {kind} {masked}")
    print(f"scanned {scanned} lines in {len(sources)} files:", *[str(p) for p, _ in sources], sep="\n  ")
    assert not findings, "personal identifiers in logs:\n" + "\n".join(findings[:50])
