"""Rows of a leg as every handler reads and locks them (no decisions here)."""
from __future__ import annotations

from sqlalchemy import select

from logistics_bridge.address import Address
from logistics_bridge.errors import Refused
from store.models.logistics import Shipment, ShipmentLeg


def lock_leg(session, leg_id: str) -> ShipmentLeg:
    """The leg, its row locked; `populate_existing`: its current state (and version), never a copy loaded earlier."""
    leg = session.execute(select(ShipmentLeg).where(ShipmentLeg.id == leg_id).with_for_update()
                          .execution_options(populate_existing=True)).scalar_one_or_none()
    if leg is None:
        raise Refused(404, "not_found", "No such delivery leg.")
    return leg


def load_leg(db, leg_id: str) -> tuple[ShipmentLeg | None, Shipment | None]:
    """(leg, its shipment), or (None, None)."""
    with db.unit_of_work() as session:
        leg = session.get(ShipmentLeg, leg_id)
        return leg, (session.get(Shipment, leg.shipment_id) if leg is not None else None)


def address_dict(address: Address) -> dict:
    return {"name": address.name, "phone": address.phone, "province": address.province, "city": address.city,
            "district": address.district, "detail": address.detail}
