"""Process settings: every `WARROOM_*` environment variable is read here and nowhere else."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Validated at start; a bad value stops the process with the variable's name."""

    model_config = SettingsConfigDict(env_prefix="WARROOM_", extra="ignore")

    # Empty: SQLite at <data_dir>/warroom.db. A relative SQLite path is made absolute once,
    # against the directory the process starts in, so that every message names one file.
    database_url: str = ""
    # Where the default SQLite database lives; default $XDG_DATA_HOME/warroom, else
    # ~/.local/share/warroom. The same for every command, wherever it is run from.
    data_dir: Path | None = None
    config: Path | None = Field(default=None, description="A YAML file or a folder of them")
    # Where people and senders reach this server; defaults to http://HOST:PORT.
    base_url: str = ""
    # The published status page (docs/status-page.md); default <data_dir>/status.
    status_dir: Path | None = None
    bootstrap_token: str | None = Field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Cookies are marked Secure when the base URL is https.
    auto_migrate: bool = True
    # Run the engine (routing, timers, notifications) inside `serve`; `--no-engine` turns it off.
    engine: bool = True
    # Run that engine in a child process of `serve` (`--engine-process`; PostgreSQL only):
    # it then shares no interpreter lock with the API (docs/cli.md).
    engine_process: bool = False
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
    slack_signing_secret: SecretStr | None = Field(default=None, repr=False)
    webhook_secret: SecretStr | None = None
    # Mirror the status page to Atlassian Statuspage (docs/status-page.md).
    statuspage_api_key: SecretStr | None = Field(default=None, repr=False)
    statuspage_base_url: str = "https://api.statuspage.io/v1"
    # Signs the acknowledge links in pages (docs/escalation.md); without it they are signed
    # with a key derived from WARROOM_BOOTSTRAP_TOKEN, and without either pages carry none.
    secret_key: SecretStr | None = Field(default=None, repr=False)
    # The evidence locker (docs/security.md): the key its files are encrypted with (at least
    # 32 characters; without it the locker is off) and where they live (<data_dir>/evidence).
    evidence_key: SecretStr | None = Field(default=None, repr=False)
    evidence_dir: Path | None = None

    # Robustness bounds (docs/robustness.md): every wait on the database, every request,
    # every body; web sessions' idle and absolute lifetimes (docs/auth.md).
    db_timeout: float = Field(default=5.0, gt=0, le=600)
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    session_idle_seconds: int = Field(default=8 * 3600, ge=60, le=90 * 86400)
    session_max_age_seconds: int = Field(default=7 * 86400, ge=60, le=365 * 86400)

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

    @field_validator("evidence_key")
    @classmethod
    def _evidence_key_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("WARROOM_EVIDENCE_KEY must be at least 32 characters")
        return value

    @property
    def evidence_path(self) -> Path:
        assert self.data_dir is not None
        return (
            self.evidence_dir.expanduser().absolute()
            if self.evidence_dir
            else (self.data_dir / "evidence")
        )

    @model_validator(mode="after")
    def _one_database(self) -> Settings:
        self.data_dir = (
            default_data_dir() if self.data_dir is None else self.data_dir.expanduser().absolute()
        )
        if not self.database_url.strip():
            self.database_url = f"sqlite:///{self.data_dir / 'warroom.db'}"
        else:
            self.database_url = absolute_sqlite_url(self.database_url.strip())
        return self

    @property
    def uses_postgresql(self) -> bool:
        return self.database_url.startswith(("postgresql:", "postgresql+"))

    @property
    def uses_default_database(self) -> bool:
        return self.database_url == f"sqlite:///{self.default_database}"

    @property
    def default_database(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "warroom.db"

    def ensure_data_dir(self) -> None:
        """Create the data directory when the default database is used (SQLite makes the
        file, not its folder)."""
        if self.uses_default_database:
            self.default_database.parent.mkdir(parents=True, exist_ok=True)

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database file, when the database is one."""
        return sqlite_file(self.database_url)

    @model_validator(mode="after")
    def _default_base_url(self) -> Settings:
        if not self.base_url:
            host = f"[{self.host}]" if ":" in self.host else self.host
            self.base_url = f"http://{host}:{self.port}"
        return self

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


def default_data_dir() -> Path:
    """$XDG_DATA_HOME/warroom, else ~/.local/share/warroom (the XDG base directory rule)."""
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "warroom"


# sqlite:///relative/path or sqlite+driver:///relative/path (four slashes is absolute).
_SQLITE_FILE = re.compile(r"^(sqlite(?:\+\w+)?:///)(?!/)([^?]+)(\?.*)?$")


def absolute_sqlite_url(url: str) -> str:
    """`sqlite:///./warroom.db` → `sqlite:////where/it/was/started/warroom.db`; any other
    URL (PostgreSQL, in-memory SQLite, SQLite URI mode) as it is."""
    match = _SQLITE_FILE.match(url)
    if match is None or match.group(2) == ":memory:" or "uri=true" in (match.group(3) or ""):
        return url
    path = Path(match.group(2)).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    return f"{match.group(1)}{os.path.normpath(path)}{match.group(3) or ''}"


def sqlite_file(url: str) -> Path | None:
    """The file an SQLite URL names (None for other databases and in-memory SQLite)."""
    match = re.match(r"^sqlite(?:\+\w+)?:///([^?]+)", url)
    if match is None or match.group(1) == ":memory:":
        return None
    return Path(match.group(1))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
