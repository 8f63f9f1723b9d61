"""toxbot's Slack forms, in one place for the listeners: open a form, read its submission.

``assessment_form`` and ``dose_form`` build the modals; ``read_assessment_form`` and
``read_dose_form`` turn a ``view_submission``'s view into what the services take, or raise
:class:`FormErrors` (block id → message) for ``ack(response_action="errors", errors=...)``;
``form_case`` reads the case code a form records on. The forms live in
:mod:`handlers.assessment_form` and :mod:`handlers.dose_form`; what they share in
:mod:`handlers.form_parts`.
"""

from __future__ import annotations

from handlers.assessment_form import assessment_form, read_assessment_form
from handlers.dose_form import dose_form, read_dose_form
from handlers.form_parts import FormErrors, form_case

__all__ = [
    "FormErrors",
    "assessment_form",
    "dose_form",
    "form_case",
    "read_assessment_form",
    "read_dose_form",
]
