"""The operations console's area (issue 20): what the people who keep govlink running look at and do.

Above reconciliation | supervision and below routes. Use cases over the lower layers, with the
decisions as pure functions:

- `catalogue`: every declared department service, its kind, target, operations and grants;
- `live`: calls, error rate and p95 latency per service over the last hour (SQL aggregates);
- `circuits`: the circuit breakers as every worker reports them (`connector_circuits`), stale ones marked;
- `parking`: the parking lots: list, inspect (masked), replay, purge with a reason, each audited;
- `message_log`: search by case, correlation or message id; the hash chain's verification status;
- `jobs`: scheduled jobs' last run, next run, failures, and a retry;
- `alerts`: open supervision warnings and the operational ones;
- `audit`: the operators' trail (`operator_audit`).
"""

OPERATOR_ROLE = "operator"
