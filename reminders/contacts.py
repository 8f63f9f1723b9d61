"""Who a case's reminders go to: its nurses, the unit's charge nurse, the on-call channel.

The dispatcher asks a ``Who`` callable, so tests and deployments decide. The default reads two
settings (``bot.settings``): ``TOXBOT_ONCALL_CHANNEL`` (a Slack channel id) and
``TOXBOT_CHARGE_NURSES`` ("UNIT=U123,ICU=U456": one charge nurse per unit, by the unit name the
case and ``member.unit`` use). A setting, not a new role, because the charge nurse changes by
shift and is a nurse (with the nurse role) for everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CaseRef:
    """The parts of a case the reminder's addressing needs (no clinical data)."""

    code: str
    unit: str | None
    nurses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Contacts:
    """Where a case's reminders and their escalations go (Slack ids; None when unset)."""

    nurses: tuple[str, ...] = ()
    charge_nurse: str | None = None
    on_call_channel: str | None = None


Who = Callable[[CaseRef], Contacts]
"""Finds a case's contacts."""


def settings_contacts(charge_nurses: Mapping[str, str], on_call_channel: str | None) -> Who:
    """A ``Who`` from the settings: the case's nurses, its unit's charge nurse, one channel."""
    units = dict(charge_nurses)

    def who(case: CaseRef) -> Contacts:
        charge = units.get(case.unit) if case.unit is not None else None
        return Contacts(case.nurses, charge, on_call_channel)

    return who
