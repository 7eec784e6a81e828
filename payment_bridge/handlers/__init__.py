"""The payment bridge's use cases, one handler each, over the pure decisions of `payment_bridge.domain`.

A handler loads what a decision needs, calls it and applies the result (a state change through
`NoticeLedger`, which writes the event row in the same transaction and publishes it after the commit).
Platform calls are never made inside a transaction. `payment_bridge.assembly.build_payments` wires them.
"""
