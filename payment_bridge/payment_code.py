"""Payment codes (缴款码): the number a payer quotes to pay a notice.

No national check digit is published, so the layout is a per-platform profile.
The default follows the Jiangsu non-tax profile: 6-digit administrative division +
2-digit year + the type marker ``30`` + a 10-digit sequence = 20 digits.
"""

import re
from dataclasses import dataclass

from payment_bridge.errors import InvalidMessage


@dataclass(frozen=True)
class PaymentCodeProfile:
    """Layout of a platform's payment code: fixed-width ASCII digit fields."""

    name: str
    division_digits: int = 6
    year_digits: int = 2
    marker: str = "30"
    sequence_digits: int = 10

    def __post_init__(self) -> None:
        if not (self.marker.isascii() and self.marker.isdigit()):
            raise ValueError("marker must be ASCII digits")
        for width in (self.division_digits, self.year_digits, self.sequence_digits):
            if not 1 <= width <= 20:
                raise ValueError("field widths must be 1..20")

    @property
    def length(self) -> int:
        """Total number of digits in a payment code of this profile."""
        return self.division_digits + self.year_digits + len(self.marker) + self.sequence_digits

    @property
    def pattern(self) -> re.Pattern[str]:
        """The full-match regular expression of this profile (ASCII digits only)."""
        return re.compile(
            f"([0-9]{{{self.division_digits}}})([0-9]{{{self.year_digits}}})"
            f"{re.escape(self.marker)}([0-9]{{{self.sequence_digits}}})"
        )


DEFAULT_PROFILE = PaymentCodeProfile(name="jiangsu-nontax-20")


@dataclass(frozen=True)
class PaymentCode:
    """A parsed payment code; ``year`` is the code's own (2-digit) year field."""

    text: str
    division: str
    year: str
    sequence: int


def format_payment_code(profile: PaymentCodeProfile, division: str, year: int, sequence: int) -> str:
    """Build a payment code; ``year`` may be a full year (2024) or its short form (24)."""
    if not (isinstance(division, str) and division.isascii() and division.isdigit()):
        raise InvalidMessage("division must be ASCII digits", code="invalid_payment_code")
    if len(division) != profile.division_digits or set(division) == {"0"}:
        raise InvalidMessage(
            f"division must be {profile.division_digits} digits, not all zero", code="invalid_payment_code"
        )
    if not isinstance(year, int) or isinstance(year, bool) or year < 0:
        raise InvalidMessage("year must be a non-negative int", code="invalid_payment_code")
    if not isinstance(sequence, int) or isinstance(sequence, bool):
        raise InvalidMessage("sequence must be an int", code="invalid_payment_code")
    if not 0 <= sequence < 10**profile.sequence_digits:
        raise InvalidMessage("sequence out of range for the profile", code="invalid_payment_code")
    short_year = year % 10**profile.year_digits
    return (
        f"{division}{short_year:0{profile.year_digits}d}{profile.marker}"
        f"{sequence:0{profile.sequence_digits}d}"
    )


def parse_payment_code(profile: PaymentCodeProfile, text: str) -> PaymentCode:
    """Validate ``text`` against the profile and split it into its fields.

    Strict on purpose: no whitespace trimming, ASCII digits only, exact length.
    Raises :class:`InvalidMessage` (code ``invalid_payment_code``).
    """
    if not isinstance(text, str) or len(text) != profile.length:
        raise InvalidMessage(
            f"payment code must be {profile.length} characters for profile {profile.name}",
            code="invalid_payment_code",
        )
    match = profile.pattern.fullmatch(text)
    if match is None or set(match.group(1)) == {"0"}:
        raise InvalidMessage(
            f"payment code does not match profile {profile.name}", code="invalid_payment_code"
        )
    division, year, sequence = match.groups()
    return PaymentCode(text=text, division=division, year=year, sequence=int(sequence))
