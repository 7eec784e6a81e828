"""The pickup verification code (取件验证码) at the handover: checked against its hash, locked after wrong tries.

Concurrent tries on one leg queue on its row lock (PostgreSQL). Where there is none (SQLite), they collide on
the leg's version: each is tried again on the current row, a few times, then answered 409
`concurrent_update`, so every wrong code counts and none is lost.
"""
from __future__ import annotations

import random
import time

from sqlalchemy.orm.exc import StaleDataError

from kernel.clock import utcnow
from logistics_bridge import domain, pickup
from logistics_bridge.errors import Refused
from logistics_bridge.legstore import lock_leg
from logistics_bridge.outbox import leg_event

PICKUP_TRIES = 8  # a pickup check colliding with another (no row locks on SQLite) is tried again this often


class PickupChecks:
    def __init__(self, db, profiles, outbox):
        self.db = db
        self.profiles = profiles
        self.outbox = outbox

    def verify_pickup(self, leg_id: str, code: str, *, actor: str) -> bool:
        """Check the recipient's pickup code at the handover; locked after too many wrong codes."""
        for _attempt in range(PICKUP_TRIES):
            try:
                return self._verify_once(leg_id, code, actor=actor)
            except StaleDataError:
                time.sleep(random.uniform(0.01, 0.05))
        raise Refused(409, "concurrent_update", "Other pickup checks of this leg are under way; try again.")

    def hand_over(self, leg_id: str, code: str, *, actor: str) -> dict:
        """The handover: the code must match (422 `wrong_pickup_code` otherwise)."""
        if not self.verify_pickup(leg_id, code, actor=actor):
            raise domain.wrong_pickup_code()
        return {"verified": True}

    def _verify_once(self, leg_id: str, code: str, *, actor: str) -> bool:
        with self.db.unit_of_work() as session:
            leg = lock_leg(session, leg_id)
            if domain.pickup_locked(leg.pickup_attempts, limit=self.profiles.pickup_code_attempts):
                raise domain.pickup_lockout()
            ok = pickup.check_code(code, leg.pickup_code_hash)
            row = None
            if ok:
                leg.picked_up_verified_at = utcnow()
                row = leg_event(session, leg, "shipment.handed_over", actor=actor)
            else:
                leg.pickup_attempts += 1
        self.outbox.publish([row])
        return ok
