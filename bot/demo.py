"""``toxbot demo``: a scripted refractory-CRS case, typed into the console front end.

An axi-cel patient (80 kg) develops grade 2 CRS the day after infusion. Over 48 simulated hours
the team gives tocilizumab up to its total limit (4 doses, at least 8 h apart, at most 3 in 24 h)
and dexamethasone 10 mg every 6 h; CRS is still grade 2 24 h after the first tocilizumab dose,
so toxbot flags refractory CRS (D14), schedules the clinician re-reviews (D16) and offers the
escalation ladder, and the team steps up to dexamethasone 20 mg every 6 h. CRS then worsens to
grade 3 with tocilizumab no longer available. Every line is shown as typed, followed by what
the team would see.

It runs on a throw-away SQLite database in a temporary folder with a scripted clock, acting as
the console's admin, and touches nothing else (not ./var, not the configured database).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, TextIO
from zoneinfo import ZoneInfo

START: Final = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
ZONE: Final = ZoneInfo("UTC")

# (hours after the start, line typed). {code} is the case's code once it is registered.
SCRIPT: Final[tuple[tuple[float, str], ...]] = (
    (0.0, "new product=axi-cel infused=2026-11-19T09:00 weight=80 age=61 unit=BMT"),
    (0.0, "assess {code} temp=39.4 bp=low o2=ra ice=10 loc=alert signs=none stated=crs2"),
    (0.5, "give {code} tocilizumab 640mg route=iv"),
    (4.0, "assess {code} temp=38.6 bp=low o2=nc:2 ice=10 loc=alert signs=none"),
    (8.5, "give {code} tocilizumab 640mg route=iv"),
    (8.75, "give {code} dexamethasone 10mg route=iv"),
    (12.0, "assess {code} temp=38.1 bp=low o2=nc:4 ice=9 loc=alert signs=none"),
    (14.75, "give {code} dexamethasone 10mg route=iv"),
    (16.5, "give {code} tocilizumab 640mg route=iv"),
    (20.75, "give {code} dexamethasone 10mg route=iv"),
    (24.5, "assess {code} temp=37.8 bp=low o2=nc:5 ice=9 loc=alert signs=none"),
    (24.75, "give {code} tocilizumab 640mg route=iv"),
    (25.0, "give {code} dexamethasone 20mg route=iv"),
    (25.0, "labs {code} ferritin=2400 fibrinogen=130 platelets=40"),
    (31.0, "give {code} dexamethasone 20mg route=iv"),
    (36.0, "assess {code} temp=37.6 pressors=1 o2=nc:6 ice=8 loc=alert signs=none"),
    (37.0, "give {code} dexamethasone 20mg route=iv"),
    (43.0, "give {code} dexamethasone 20mg route=iv"),
    (48.0, "assess {code} temp=37.4 pressors=1 o2=hfnc:30 ice=8 loc=alert signs=none"),
    (48.0, "summary {code}"),
    (48.0, "due {code}"),
)


@dataclass
class ScriptedClock:
    """The demo's clock: stands still until the script moves it on."""

    moment: datetime = START

    def now(self) -> datetime:
        """The scripted moment."""
        return self.moment


def run_demo(stdout: TextIO) -> int:
    """Run the script on a temporary database; print each line typed and the replies."""
    from bot.app import build_services
    from bot.commands import run_line
    from bot.console import show
    from bot.services.api import Actor
    from bot.settings import Settings

    clock = ScriptedClock()
    actor = Actor("console", "console", trusted=True)
    stdout.write(
        "toxbot demo: a scripted refractory-CRS case on a throw-away database "
        "(simulated time; every reply is what the team would see).\n"
        "An axi-cel patient, 80 kg, infused 2026-11-19 09:00 UTC, has grade 2 CRS the next "
        "morning. Over 48 h: tocilizumab to its limit, dexamethasone, refractory CRS.\n\n"
    )
    with tempfile.TemporaryDirectory(prefix="toxbot-demo-") as folder:
        settings = Settings(
            database_url=f"sqlite:///{Path(folder) / 'demo.db'}",
            toxbot_protocol=None,
            toxbot_timezone=ZONE.key,
            toxbot_admins="",
            toxbot_auto_upgrade=True,
        )
        services = build_services(settings, clock=clock)
        code = "CASE"
        shown_at: datetime | None = None
        for hours, template in SCRIPT:
            clock.moment = START + timedelta(hours=hours)
            if clock.moment != shown_at:
                shown_at = clock.moment
                stdout.write(
                    f"=== {shown_at.strftime('%a %Y-%m-%d %H:%M')} UTC (+{hours:g} h) ===\n"
                )
            line = template.format(code=code)
            stdout.write(f"> /tox {line}\n")
            result = run_line(services, actor, line, zone=ZONE)
            if template.startswith("new") and result.ack.case_code:
                code = result.ack.case_code
            show(result, stdout)
        _dispose_engine(services)
    stdout.write("End of the demo: the temporary database is deleted.\n")
    return 0


def _dispose_engine(services: object) -> None:
    """Close the demo database's connections before its folder is removed (Windows locks it)."""
    sessions = getattr(services, "_sessions", None)
    bind = getattr(sessions, "kw", {}).get("bind") if sessions is not None else None
    dispose = getattr(bind, "dispose", None)
    if callable(dispose):
        dispose()
