"""Assurance levels (R4) and the RFC 9470 step-up challenge.

- L1 (1): self-registered;
- L2 (2): name and resident ID number confirmed by the population registry;
- L3 (3): verified in person at a service-hall counter.
Service accounts have level 0. The level lives in the user attribute `assurance_level`, which only
administrators (govlink) may write, and reaches tokens through a user-attribute mapper: after a
verification raises it, the channel needs a new token (refresh or sign in again) to show it.
"""
from __future__ import annotations

LEVELS = {1: "L1", 2: "L2", 3: "L3"}
DESCRIPTIONS = {
    1: "self-registered",
    2: "name and ID number confirmed by the population registry",
    3: "verified in person at a service-hall counter",
}


def acr_value(level: int) -> str:
    """The `acr_values` name of a level (`L2`)."""
    return LEVELS[level]


def acceptable(required: int) -> str:
    """The `acr_values` a token must show for `required`: that level or any higher (`L2 L3`)."""
    return " ".join(LEVELS[n] for n in sorted(LEVELS) if n >= required)


def step_up_challenge(required: int) -> str:
    """The RFC 9470 `WWW-Authenticate` value for a token below `required`."""
    description = (f"This needs assurance level {acr_value(required)} ({DESCRIPTIONS[required]}); "
                   "verify, then get a new token")
    return (f'Bearer error="insufficient_user_authentication", error_description="{description}", '
            f'acr_values="{acceptable(required)}"')
