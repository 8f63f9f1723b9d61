"""The composition root: the one place that builds engines, sessions, the protocol and services.

Nothing here runs at import; each front end (CLI, console, Slack) calls ``build_services`` when a
command needs it.
"""

from __future__ import annotations

from bot.clock import Clock, SystemClock
from bot.db.engine import make_engine, session_factory
from bot.db.migrate import upgrade
from bot.protocol_files import load_protocol
from bot.services.api import Services
from bot.services.audit import record_audit
from bot.services.members import ensure_admins
from bot.settings import Settings


def build_services(settings: Settings | None = None, *, clock: Clock | None = None) -> Services:
    """Services over the configured database (upgraded first when configured) and protocol."""
    settings = settings or Settings()
    clock = clock or SystemClock()
    engine = make_engine(settings.database_url.get_secret_value())
    if settings.toxbot_auto_upgrade:
        upgrade(engine)
    sessions = session_factory(engine)
    if settings.admin_ids:
        now = clock.now()
        with sessions.begin() as session:
            for user in ensure_admins(session, settings.admin_ids, now):
                record_audit(
                    session,
                    at=now,
                    actor="TOXBOT_ADMINS",
                    action="role.set",
                    source="startup",
                    object_type="member",
                    object_id=user,
                    detail={"role": "admin"},
                )
    return Services(
        sessions=sessions, clock=clock, protocol=load_protocol(settings.toxbot_protocol or None)
    )
