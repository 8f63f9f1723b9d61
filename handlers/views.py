"""Form submissions: the assessment and dose modals.

A field the form cannot read is shown next to the field (``response_action: errors``) and
nothing is stored. A submission the use case refuses (a role, a closed case, a database that
cannot be reached) replaces the form with the reason. A recorded one closes the form and the full
reply goes to the case's thread. The view's id and hash are the idempotency key: a submission
delivered twice stores once.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App, BoltContext

from bot.commands import assessment_result, dose_result
from bot.replies import CommandResult, FormKind
from bot.services.api import Services
from handlers.context import actor_of
from handlers.delivery import Poster, message_view
from handlers.forms import FormErrors, read_assessment_form, read_dose_form


def register(app: App, *, services: Services, poster: Poster, zone: ZoneInfo) -> None:
    """Wire the assessment and dose forms to their use cases (``zone`` places a time of day)."""

    def finish(ack: Ack, result: CommandResult, view: dict[str, Any], context: BoltContext) -> None:
        if result.thread is None:  # nothing recorded: say why where the user is looking
            ack(response_action="update", view=message_view(result.ack))
            return
        ack()
        channel = poster.form_channel(str(view.get("id")))
        user = actor_of(context).user
        poster.to_case_thread(result.thread, key=_key(view), channel=channel, user=user)

    @app.view(FormKind.ASSESSMENT.value)
    def assessment_submitted(ack: Ack, view: dict[str, Any], context: BoltContext) -> None:
        try:
            code, parsed = read_assessment_form(view)
        except FormErrors as exc:
            ack(response_action="errors", errors=dict(exc.errors))
            return
        key = _key(view)
        actor = actor_of(context)
        result = assessment_result(services, actor, code, parsed, idempotency_key=key, zone=zone)
        finish(ack, result, view, context)

    @app.view(FormKind.DOSE.value)
    def dose_submitted(ack: Ack, view: dict[str, Any], context: BoltContext) -> None:
        try:
            code, data = read_dose_form(view)
        except FormErrors as exc:
            ack(response_action="errors", errors=dict(exc.errors))
            return
        key = _key(view)
        actor = actor_of(context)
        result = dose_result(services, actor, code, data, idempotency_key=key, zone=zone)
        finish(ack, result, view, context)


def _key(view: dict[str, Any]) -> str:
    """One submission of one view: its id and the hash of the state submitted."""
    return f"view:{view['id']}:{view.get('hash', '')}"
