"""Domain errors with messages a nurse or clinician can act on. None carries patient data."""

from __future__ import annotations


class ServiceError(Exception):
    """A use case could not be carried out; ``message`` says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CaseNotFound(ServiceError):
    """No case has this code."""

    def __init__(self, code: str) -> None:
        super().__init__(f"No case {code}. Check the code, or list cases with /tox due.")
        self.code = code


class CaseClosed(ServiceError):
    """The case is closed: nothing more is recorded on it."""

    def __init__(self, code: str) -> None:
        super().__init__(f"Case {code} is closed; nothing was recorded.")
        self.code = code


class NotRecorded(ServiceError):
    """The database could not be reached or refused the write: nothing was stored."""

    def __init__(self) -> None:
        super().__init__(
            "Not recorded: the database could not be reached, so nothing was stored. "
            "Try again in a moment; if it keeps failing, tell the on-call administrator."
        )


class LastAdmin(ServiceError):
    """The change would leave no admin: nobody could give or change roles in Slack any more."""

    def __init__(self, user: str) -> None:
        super().__init__(
            f"<@{user}> is the only admin, so their role stays admin: with no admin, nobody "
            "could give or change roles. Make another member admin first "
            "(/tox role @someone admin), then change this one."
        )
        self.user = user
