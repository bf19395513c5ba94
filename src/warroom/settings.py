"""Process settings: every `WARROOM_*` environment variable is read here and nowhere else."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Validated at start; a bad value stops the process with the variable's name."""

    model_config = SettingsConfigDict(env_prefix="WARROOM_", extra="ignore")

    database_url: str = "sqlite:///./warroom.db"
    config: Path | None = Field(default=None, description="A YAML file or a folder of them")
    # Where people and senders reach this server; defaults to http://HOST:PORT.
    base_url: str = ""
    bootstrap_token: str | None = Field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Cookies are marked Secure when the base URL is https.
    auto_migrate: bool = True
    # Run the engine (routing, timers, notifications) inside `serve`; `--no-engine` turns it off.
    engine: bool = True
    # How long an engine owns a claimed timer or notification before another may take over.
    engine_lease_seconds: float = Field(default=60.0, ge=1.0, le=3600.0)
    # Notification channels (docs/notifications.md); a channel without its settings is off.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_starttls: bool = True
    twilio_base_url: str = "https://api.twilio.com"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    slack_base_url: str = "https://slack.com/api/"
    slack_token: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    # Signs the acknowledge links in pages (docs/escalation.md); without it they are signed
    # with a key derived from WARROOM_BOOTSTRAP_TOKEN, and without either pages carry none.
    secret_key: SecretStr | None = Field(default=None, repr=False)

    @field_validator("bootstrap_token")
    @classmethod
    def _token_long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 16:
            raise ValueError("WARROOM_BOOTSTRAP_TOKEN must be at least 16 characters")
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("WARROOM_SECRET_KEY must be at least 32 characters")
        return value

    @model_validator(mode="after")
    def _default_base_url(self) -> Settings:
        if not self.base_url:
            host = f"[{self.host}]" if ":" in self.host else self.host
            self.base_url = f"http://{host}:{self.port}"
        return self

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
