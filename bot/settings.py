"""Configuration from the environment (and ``.env``), read once by the composition root.

Secrets are ``SecretStr``: they never appear in a repr, a log line or an error.
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///var/toxbot.db"


class Settings(BaseSettings):
    """toxbot's settings (design §9). Environment variable names are the field names, upper."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None
    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)  # may carry a password
    toxbot_protocol: str | None = None
    toxbot_timezone: str = "UTC"
    toxbot_port: int = 3000
    toxbot_admins: str = ""  # comma-separated Slack user ids made admins on start
    toxbot_auto_upgrade: bool = True  # upgrade the database schema on start
    toxbot_reminders: bool = True  # run the reminder scheduler in serve and console ("off": not)
    # Reminder escalation (reminders.contacts): the on-call clinician channel (level 2 and
    # clinician re-reviews), and one charge nurse per unit as "UNIT=U123,ICU=U456" (level 1).
    toxbot_oncall_channel: str | None = None
    toxbot_charge_nurses: str = ""

    @property
    def charge_nurses(self) -> dict[str, str]:
        """The unit -> charge nurse Slack id map in ``TOXBOT_CHARGE_NURSES`` (blanks ignored)."""
        pairs = (part.partition("=") for part in self.toxbot_charge_nurses.split(","))
        return {
            unit.strip(): user.strip() for unit, _, user in pairs if unit.strip() and user.strip()
        }

    @property
    def admin_ids(self) -> tuple[str, ...]:
        """The Slack user ids in ``TOXBOT_ADMINS``."""
        return tuple(part.strip() for part in self.toxbot_admins.split(",") if part.strip())
