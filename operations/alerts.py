"""Alerts for operators: the open supervision warnings and the operational ones (a circuit open, a
parking lot over its threshold or growing, a job whose last run failed, the working-day calendar
not covering next year, a finance-console reconciliation job whose process died). The decisions are
pure functions of what the other modules read.

Each alert has a stable `kind`, a message `code` and its `params` (the consoles translate the message
by them: `alert_msg_<code>` in routes/translations) and `message`, the English text the API keeps."""
from __future__ import annotations

from operations.parking import growing
from reconciliation.job_leases import OWNER_LOST, last_sign_of_life, needing_attention

SEVERITIES = ("critical", "warning", "info")


def circuit_alerts(circuits: dict[str, dict]) -> list[dict]:
    """(pure) One alert per service whose circuit is open (or half open) in a worker still reporting."""
    out = []
    for service, c in sorted(circuits.items()):
        if c["state"] in ("open", "half_open"):
            alive = sum(1 for w in c["workers"] if not w["stale"])
            out.append({"kind": "circuit_open", "severity": "critical" if c["state"] == "open" else "warning",
                        "subject": service, "code": f"circuit_{c['state']}",
                        "params": {"service": service, "open_workers": c["open_workers"], "workers": alive},
                        "message": f"the circuit of {service} is {c['state']} in {c['open_workers']} of {alive} worker(s)"})
    return out


def parking_alerts(counts: dict[str, int | None], samples: dict[str, dict], threshold: int) -> list[dict]:
    """(pure) A parking lot holding more than `threshold`, or more than five minutes or more before."""
    out = []
    for service, count in sorted(counts.items()):
        if not count:
            continue
        sample = samples.get(service, {})
        if count > threshold or growing(sample):
            why = [f"{count} parked"]
            if growing(sample):
                why.append(f"up from {sample['previous_count']}")
            params = {"service": service, "count": count, "previous": sample.get("previous_count")}
            out.append({"kind": "parking_lot", "severity": "warning", "subject": service, "params": params,
                        "code": "parking_lot_growing" if growing(sample) else "parking_lot",
                        "message": f"the parking lot of {service}: {', '.join(why)}"})
    return out


def job_alerts(jobs: list[dict]) -> list[dict]:
    """(pure) A job whose latest run failed for good."""
    return [{"kind": "job_failed", "severity": "critical", "subject": j["name"], "code": "job_failed",
             "params": {"job": j["name"], "period": j["last_run"]["period"], "attempts": j["last_run"]["attempts"],
                        "outcome": j["last_run"]["outcome"][:200]},
             "message": f"{j['name']} ({j['last_run']['period']}) failed after {j['last_run']['attempts']} "
                        f"attempt(s): {j['last_run']['outcome'][:200]}"}
            for j in jobs if j["last_run"] and j["last_run"]["status"] == "failed"]


def reconciliation_job_alerts(jobs: list[dict], now, lease) -> list[dict]:
    """(pure) A finance-console reconciliation job failed owner_lost in the last day (its process died), or
    still open past its lease (not reclaimed yet: is the scheduler running?)."""
    out = []
    for j in needing_attention(jobs, now, lease):
        seen = last_sign_of_life(j)
        params = {"job": j["id"], "kind": j["kind"], "day": j["business_date"].isoformat(),
                  "seen": seen.isoformat(timespec="seconds") if seen else "-"}
        if j["state"] == "failed":
            code, text = "job_owner_lost", (f"reconciliation job {j['id']} ({j['kind']} {params['day']}) failed "
                                            f"{OWNER_LOST}: its process stopped (last seen {params['seen']}); re-run it")
        else:
            code, text = "job_lease_expired", (f"reconciliation job {j['id']} ({j['kind']} {params['day']}) has had no "
                                               f"heartbeat since {params['seen']}: its process stopped and the scheduler "
                                               f"has not failed it yet")
        out.append({"kind": "reconciliation_job_abandoned", "severity": "critical", "subject": f"job {j['id']}",
                    "code": code, "params": params, "message": text, "since": j.get("finished_at") or seen})
    return out


def calendar_alerts(coverage) -> list[dict]:
    """(pure) The working-day calendar missing the current or (from December) next year."""
    if coverage is None or coverage.ok:
        return []
    return [{"kind": "calendar", "severity": "critical" if coverage.on.year in coverage.missing else "warning",
             "subject": ", ".join(map(str, coverage.missing)), "code": "calendar_missing",
             "params": {"years": ", ".join(map(str, coverage.missing))}, "message": coverage.message}]


def warning_alerts(warnings: list[dict]) -> list[dict]:
    """(pure) The open supervision warnings (deadlines passed), escalations first."""
    return [{"kind": "supervision_" + w["level"], "severity": "critical" if w["level"] == "escalation" else "warning",
             "subject": w["case_id"], "code": "deadline_passed",
             "params": {"step": w["step"], "case_id": w["case_id"], "service": w["service"] or w["system"],
                        "due": w["due_at"].isoformat()},
             "message": f"{w['step']} of {w['case_id']} ({w['service'] or w['system']}) "
                        f"was due at {w['due_at'].isoformat()}", "since": w["warned_at"]}
            for w in sorted(warnings, key=lambda w: w["level"] != "escalation")]


def ordered(alerts: list[dict]) -> list[dict]:
    """(pure) Critical first, then warnings, then information; stable within each."""
    return sorted(alerts, key=lambda a: SEVERITIES.index(a["severity"]))
