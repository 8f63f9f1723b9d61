"""The ``new`` and ``close`` command grammar of design §5, shared by the CLI, console and Slack.

``new [CODE] product=NAME infused=YYYY-MM-DD[THH:MM] weight=KG [age=Y] [unit=NAME] [nurse=@user]``
Times without an offset are local to ``TOXBOT_TIMEZONE``, and the interpretation is echoed.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from grading.errors import FieldError, InputError

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_NEW_KEYS = {"product", "infused", "weight", "age", "unit", "nurse", "channel", "dd", "capd"}


def parse_new_case(tokens: list[str], zone: ZoneInfo) -> tuple[dict[str, Any], list[str]]:
    """Read ``new`` arguments into registration data, with what each value was read as."""
    data: dict[str, Any] = {}
    said: list[str] = []
    errors: list[FieldError] = []
    nurses: list[str] = []
    for token in tokens:
        key, equals, value = token.partition("=")
        key = key.lower()
        if not equals:
            if "code" in data or data:
                errors.append(
                    FieldError(
                        token,
                        "",
                        "expected field=value",
                        "product=, infused=, weight=, age=, unit=, nurse=",
                    )
                )
            else:
                data["code"] = token
            continue
        if key not in _NEW_KEYS:
            errors.append(FieldError(key, value, "unknown field", ", ".join(sorted(_NEW_KEYS))))
        elif key == "infused":
            try:
                data["infused_at"], how = _local_time(value, zone)
                said.append(f"infused={value} → {data['infused_at'].isoformat()} ({how})")
            except ValueError:
                errors.append(
                    FieldError(
                        "infused",
                        value,
                        "not a date or date-time",
                        "YYYY-MM-DD or YYYY-MM-DDTHH:MM, local time",
                    )
                )
        elif key == "weight":
            data["weight_kg"] = value.lower().removesuffix("kg")
            said.append(f"weight={value} → {data['weight_kg']} kg")
        elif key == "age":
            data["age_years"] = value
        elif key == "nurse":
            match = _MENTION.fullmatch(value)
            nurses.append(match[1] if match else value.lstrip("@"))
        elif key == "channel":
            data["slack_channel"] = value
        elif key == "dd":
            data["developmental_delay"] = value.lower() in {"yes", "true", "y"}
        elif key == "capd":
            data["baseline_capd"] = int(value) if value.isdigit() else value
        else:
            data[key] = value
    if nurses:
        data["nurses"] = nurses
    if errors:
        raise InputError(errors)
    return data, said


def _local_time(value: str, zone: ZoneInfo) -> tuple[datetime, str]:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        return moment, "offset as given"
    if len(value) == 10:  # a date alone: the infusion day, at noon local, said so
        moment = datetime.combine(moment.date(), time(12, 0))
        return moment.replace(tzinfo=zone), f"date only: read as 12:00 {zone.key}"
    return moment.replace(tzinfo=zone), f"local time, {zone.key}"
