"""One typed Settings object, built once: defaults < config/settings.toml < .env < environment.

Well-known environment names (``TELEGRAM_API_ID``, ``TGMON_DATABASE_URL``, ...) map onto nested
fields; any field can also be set as ``TGMON_<SECTION>__<FIELD>`` (``TGMON_DIGEST__DEFAULT_HOUR=8``).
Secrets are ``SecretStr``: they print as ``**********`` and never reach a log or an error message.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.domain import DEFAULT_DIGEST_SIZE, MAIN_ACCOUNT


class ConfigError(Exception):
    """A setting is wrong. The message names the setting and says how to fix it; it holds no secret."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_ACCOUNT_NAME = re.compile(r"[a-z0-9_]{1,32}")


def account_session_env(name: str) -> str:
    """The environment variable that holds an account's session string."""
    return "TELEGRAM_SESSION" if name == MAIN_ACCOUNT else f"TELEGRAM_SESSION_{name.upper()}"


def _account_name(name: str) -> str:
    if len(name) > 32:  # never echo it: an old-style entry here was a session string
        raise ValueError("an account name is longer than 32 characters; names are 1-32 of a-z, 0-9 and _ "
                         "(a session string goes in TELEGRAM_SESSION_<NAME>, not in TELEGRAM_ACCOUNTS)")
    if not _ACCOUNT_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an account name; use 1-32 of a-z, 0-9 and _, e.g. main,second")
    if name == "file":
        raise ValueError("'file' cannot name an account (TELEGRAM_SESSION_FILE is the session file setting)")
    return name


class TelegramSettings(_Section):
    api_id: int | None = Field(default=None, gt=0)
    api_hash: SecretStr | None = None
    session: SecretStr | None = None  # a StringSession; when unset the session file is used
    session_file: Path = Path("data/tgmon-user.session")
    bot_token: SecretStr | None = None
    server: str | None = None  # host:port of a custom server (test environment, private deployment)
    dc_id: int | None = Field(default=None, ge=1, le=10_000)
    server_public_key: Path | None = None  # PEM file of the custom server's RSA key
    join_cap: int = Field(default=450, ge=0, le=500)
    # monitoring accounts by name (`main` is always one); each ingest process runs one of them
    accounts: list[str] = Field(default_factory=list)
    # session strings of the accounts other than main (TELEGRAM_SESSION_<NAME>); else a session file each
    account_sessions: dict[str, SecretStr] = Field(default_factory=dict)
    channel_cap: int = Field(default=1000, ge=1, le=1_000_000)  # channels one account watches at most

    @field_validator("accounts")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        names = [_account_name(name.strip()) for name in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"{', '.join(map(repr, repeated))} listed more than once; name each account once")
        return names

    @model_validator(mode="after")
    def _sessions_of_known_accounts(self) -> TelegramSettings:
        for name in self.account_sessions:
            if name == MAIN_ACCOUNT:
                raise ValueError("TELEGRAM_SESSION_MAIN is not read: the main account's session string is "
                                 "TELEGRAM_SESSION")
            if name not in self.account_names:
                raise ValueError(
                    f"{account_session_env(name)} is set, but {name!r} is not in TELEGRAM_ACCOUNTS "
                    f"({', '.join(self.account_names)}); add it there, or remove the session")
        return self

    @property
    def account_names(self) -> list[str]:
        """Every configured monitoring account, `main` first."""
        return [MAIN_ACCOUNT, *(n for n in self.accounts if n != MAIN_ACCOUNT)]

    def require_account(self, name: str) -> str:
        """`name`, when it is a configured account; else a ConfigError naming the configured ones and the fix."""
        if name not in self.account_names:
            shown = name if len(name) <= 32 else name[:29] + "..."
            raise ConfigError(
                f"no monitoring account named {shown!r}; configured: {', '.join(self.account_names)}. "
                f"Add it to TELEGRAM_ACCOUNTS (e.g. TELEGRAM_ACCOUNTS={','.join(self.account_names)},NAME) "
                "and sign it in with `tgmon login --account NAME`.")
        return name

    def account_session(self, name: str) -> SecretStr | None:
        """The session string of an account, or None when it uses its session file."""
        return self.session if name == MAIN_ACCOUNT else self.account_sessions.get(name)

    @field_validator("server")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected host:port, for example 149.154.167.40:443")
        return value

    @property
    def user_configured(self) -> bool:
        return bool(self.api_id and self.api_hash)

    @property
    def bot_configured(self) -> bool:
        return bool(self.api_id and self.api_hash and self.bot_token)


class DatabaseSettings(_Section):
    url: str = "sqlite:///data/tgmon.db"
    # TGMON_DATABASE_PASSWORD: the PostgreSQL password kept out of the URL (any characters, no escaping);
    # merged into `url`, replacing a password the URL has
    password: SecretStr | None = None
    echo: bool = False
    pool_size: int = Field(default=5, ge=1, le=200)
    busy_timeout_ms: int = Field(default=30_000, ge=0)
    # PostgreSQL: processes wake each other with LISTEN/NOTIFY (a stored match, a queued alert); off
    # behind a pooler that cannot LISTEN (PgBouncer in transaction mode): they then look every second
    listen: bool = True

    @model_validator(mode="before")
    @classmethod
    def _merge_password(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("password") in (None, ""):
            return data
        password = data["password"]
        if isinstance(password, SecretStr):
            password = password.get_secret_value()
        try:
            url = make_url(async_database_url(str(data.get("url", cls.model_fields["url"].default))))
        except ValueError:
            return data  # the url's own check names the problem
        if not url.drivername.startswith("postgresql"):
            raise ValueError("TGMON_DATABASE_PASSWORD is set, but the database is not PostgreSQL; "
                             "unset it, or set TGMON_DATABASE_URL=postgresql://user@host:5432/db")
        return {**data, "url": url.set(password=str(password)).render_as_string(hide_password=False)}

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        return async_database_url(value)

    def __repr_args__(self) -> Any:  # the URL's password never reaches a repr or a log line
        for name, value in super().__repr_args__():
            yield name, make_url(value).render_as_string(hide_password=True) if name == "url" else value

    def password_forms(self) -> list[str]:
        """The password the URL carries (from the URL or TGMON_DATABASE_PASSWORD), as given and as escaped
        in the URL, for the log redaction filter."""
        url = make_url(self.url)
        if not url.password:
            return []
        escaped = url.render_as_string(hide_password=False).split("://", 1)[1].rsplit("@", 1)[0].partition(":")[2]
        return list(dict.fromkeys([str(url.password), escaped]))


class IngestSettings(_Section):
    backfill_days: int = Field(default=7, ge=0, le=3650)
    backfill_posts: int = Field(default=1000, ge=0, le=1_000_000)
    page_size: int = Field(default=100, ge=1, le=100)
    gap_fill_minutes: float = Field(default=5, gt=0)
    # edits and deletions made while nobody listened: the newest posts of the last `recheck_hours`
    # (one page, at most 100) are read again at start, after a reconnect and every `recheck_minutes`
    recheck_hours: float = Field(default=48, ge=0)
    recheck_minutes: float = Field(default=60, gt=0)
    batch_size: int = Field(default=500, ge=1, le=10_000)
    default_channels_file: Path = Path("config/channels.toml")


class MatchingSettings(_Section):
    max_rule_length: int = Field(default=500, ge=1, le=10_000)
    max_terms: int = Field(default=30, ge=1, le=1000)
    max_regex_rules_per_subscriber: int = Field(default=5, ge=0, le=1000)
    cache_size: int = Field(default=1 << 18, ge=0)
    # topic rules (~"..."): embed every post at ingestion when the semantic extra is installed
    embed_posts: bool = True


class DigestSettings(_Section):
    default_hour: int = Field(default=9, ge=0, le=23)
    default_timezone: str = "Europe/Moscow"
    default_weekday: int = Field(default=0, ge=0, le=6)  # Monday
    max_items: int = Field(default=DEFAULT_DIGEST_SIZE, ge=0)  # a new subscriber's digest size; 0 = all
    excerpt_chars: int = Field(default=280, ge=40, le=2000)
    # the scheduled digests' tick; instant alerts do not wait for it (they go as their match is stored)
    tick_seconds: float = Field(default=60, ge=1)
    # instant alerts: how often matches stored by another process are looked for while LISTEN/NOTIFY
    # wakes this process (a safety net; without a listener, every second)
    instant_poll_seconds: float = Field(default=5, ge=0.1, le=300)

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return valid_timezone(value)


class DeliverySettings(_Section):
    global_per_second: float = Field(default=30, gt=0)
    private_chat_per_second: float = Field(default=1, gt=0)
    group_per_minute: float = Field(default=20, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    instant_batch_seconds: float = Field(default=5, ge=0)
    # a claimed row whose worker died (no renewal for this long) is sent again, with the same random_id
    lease_seconds: float = Field(default=20, ge=1, le=600)
    # an idle worker looks for due rows this often (rows due later: retries, a chat's gap); a queued
    # row wakes it at once through LISTEN/NOTIFY on PostgreSQL, or from a scheduler of its own process
    poll_seconds: float = Field(default=1, ge=0.05, le=300)


class NotifySettings(_Section):
    """Alerts to other services (bot/notify, docs/notifications.md)."""

    # encrypts the stored notification URLs (any passphrase of 16+ characters); unset: stored as typed
    key: SecretStr | None = None
    timeout_seconds: float = Field(default=20, gt=0, le=300)  # one request to a service
    max_targets: int = Field(default=5, ge=1, le=100)  # per subscriber

    @field_validator("key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and 0 < len(value.get_secret_value().strip()) < 16:
            raise ValueError("TGMON_NOTIFY_KEY is too short: use a passphrase of 16 or more characters")
        return value


class BotSettings(_Section):
    admins: list[int] = Field(default_factory=list)
    private_mode: bool = False
    allowlist: list[int] = Field(default_factory=list)
    approve_channels: bool = False  # /follow queues new channels for an admin
    max_rules: int = Field(default=50, ge=1)
    max_channels: int = Field(default=100, ge=1)
    commands_per_minute: float = Field(default=20, gt=0)
    command_burst: int = Field(default=8, ge=1)


class AppSettings(_Section):
    data_dir: Path = Path("data")
    log_level: str = "INFO"
    log_json: bool = False
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level


class WebSettings(_Section):
    """The web view and the Atom feeds (`tgmon run --role web`, bot/web)."""

    # the address people open (https://tgmon.example.org): sign-in links and feed URLs are made from it;
    # the session cookie is Secure when it is https. Unset: the web role does not start.
    base_url: str | None = None
    host: str = "127.0.0.1"  # where uvicorn listens (0.0.0.0 in a container, behind a proxy)
    port: int = Field(default=8080, ge=1, le=65535)
    # signs sign-in links and form tokens; unset: one is made and kept in the database (meta table)
    secret_key: SecretStr | None = None
    login_minutes: float = Field(default=10, gt=0, le=1440)  # a /web link works once, for this long
    session_days: float = Field(default=30, gt=0, le=365)
    page_size: int = Field(default=20, ge=5, le=100)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        value = value.strip().rstrip("/")
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("expected the public address of the web view, e.g. https://tgmon.example.org "
                             "(http:// only for a local test)")
        return value

    @property
    def secure(self) -> bool:
        return bool(self.base_url and self.base_url.startswith("https://"))


class RuntimeSettings(_Section):
    """`tgmon run`: shutdown, scheduler leadership, health."""

    shutdown_grace_seconds: float = Field(default=6, gt=0, le=60)  # then unfinished work is cancelled
    leader_retry_seconds: float = Field(default=5, gt=0, le=60)  # a standby scheduler retries the lock
    # the leader's lock lives while it talks: a frozen or cut-off leader is replaced after this long
    leader_lease_seconds: float = Field(default=15, ge=2, le=600)
    monitor_seconds: float = Field(default=15, gt=0, le=3600)  # outbox depth and database probe
    stall_seconds: float = Field(default=600, gt=0)  # /healthz fails after this long without progress


class Settings(_Section):
    telegram: TelegramSettings = TelegramSettings()
    database: DatabaseSettings = DatabaseSettings()
    ingest: IngestSettings = IngestSettings()
    matching: MatchingSettings = MatchingSettings()
    digest: DigestSettings = DigestSettings()
    delivery: DeliverySettings = DeliverySettings()
    notify: NotifySettings = NotifySettings()
    bot: BotSettings = BotSettings()
    app: AppSettings = AppSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    web: WebSettings = WebSettings()

    def secrets(self) -> list[str]:
        """Every secret value in force, for the log redaction filter."""
        values = [self.telegram.api_hash, self.telegram.session, self.telegram.bot_token, self.web.secret_key,
                  self.notify.key]
        found = [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
        found.extend(v.get_secret_value() for v in self.telegram.account_sessions.values() if v.get_secret_value())
        found.extend(self.database.password_forms())
        return found


# Environment names users look for, and where each lands.
ENV_NAMES: dict[str, tuple[str, str]] = {
    "TELEGRAM_API_ID": ("telegram", "api_id"),
    "TELEGRAM_API_HASH": ("telegram", "api_hash"),
    "TELEGRAM_SESSION": ("telegram", "session"),
    "TELEGRAM_SESSION_FILE": ("telegram", "session_file"),
    "TELEGRAM_BOT_TOKEN": ("telegram", "bot_token"),
    "TELEGRAM_SERVER": ("telegram", "server"),
    "TELEGRAM_DC_ID": ("telegram", "dc_id"),
    "TELEGRAM_SERVER_PUBLIC_KEY": ("telegram", "server_public_key"),
    "TELEGRAM_ACCOUNTS": ("telegram", "accounts"),
    "TELEGRAM_ACCOUNT_CAP": ("telegram", "channel_cap"),
    "TGMON_DATABASE_URL": ("database", "url"),
    "DATABASE_URL": ("database", "url"),
    "TGMON_DATABASE_PASSWORD": ("database", "password"),
    "TGMON_NOTIFY_KEY": ("notify", "key"),
    "TGMON_LOG_LEVEL": ("app", "log_level"),
    "TGMON_LOG_JSON": ("app", "log_json"),
    "TGMON_DATA_DIR": ("app", "data_dir"),
    "TGMON_METRICS_PORT": ("app", "metrics_port"),
    "TGMON_ADMINS": ("bot", "admins"),
    "TGMON_WEB_BASE_URL": ("web", "base_url"),
    "TGMON_WEB_HOST": ("web", "host"),
    "TGMON_WEB_PORT": ("web", "port"),
    "TGMON_WEB_SECRET_KEY": ("web", "secret_key"),
}
_LIST_FIELDS = {("bot", "admins"), ("bot", "allowlist"), ("telegram", "accounts")}
_SECRET_FIELDS = {("telegram", "api_hash"), ("telegram", "session"), ("telegram", "bot_token"),
                  ("telegram", "account_sessions"), ("database", "password"),
                  ("web", "secret_key")}
_ACCOUNT_SESSION_PREFIX = "TELEGRAM_SESSION_"  # TELEGRAM_SESSION_<NAME>: the session string of account <name>


def async_database_url(url: str) -> str:
    """Accept plain URLs and add the async driver: sqlite -> aiosqlite, postgresql -> asyncpg."""
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(
            "not a database URL; use sqlite:///data/tgmon.db or postgresql://user:password@host:5432/db"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite":
        if driver not in ("", "aiosqlite"):
            raise ValueError(f"the sqlite driver {driver!r} is not async; use sqlite:///path or sqlite+aiosqlite")
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql":
        if driver not in ("", "asyncpg"):
            raise ValueError(f"the postgresql driver {driver!r} is not supported; use postgresql://...")
        if not parsed.database:
            raise ValueError("the PostgreSQL URL names no database: postgresql://user@host:5432/DBNAME")
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(f"unsupported database {backend!r}; use sqlite:///... or postgresql://...")
    return parsed.render_as_string(hide_password=False)


def valid_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r}; use an IANA name such as Europe/Moscow or UTC") from None
    return value


def _set(tree: dict[str, Any], section: str, key: str, value: Any) -> None:
    if (section, key) in _LIST_FIELDS and isinstance(value, str):
        value = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    tree.setdefault(section, {})[key] = value


def _apply_env(tree: dict[str, Any], env: Mapping[str, str | None]) -> dict[tuple[str, str], str]:
    origin: dict[tuple[str, str], str] = {}
    for name, value in env.items():
        if value is None:
            continue
        target = ENV_NAMES.get(name)
        if target is None and name.startswith(_ACCOUNT_SESSION_PREFIX) and value != "":
            account = name.removeprefix(_ACCOUNT_SESSION_PREFIX).lower()
            tree.setdefault("telegram", {}).setdefault("account_sessions", {})[account] = value
            origin[("telegram", "account_sessions")] = name
            continue
        if target is None and name.startswith("TGMON_") and "__" in name:
            section, _, key = name.removeprefix("TGMON_").lower().partition("__")
            target = (section, key)
        if target is None:
            continue
        if value == "" and target not in {("database", "url")}:
            continue  # an empty line in .env means "not set"
        _set(tree, *target, value)
        origin[target] = name
    return origin


def load_settings(
    *,
    config_file: Path | None = None,
    env_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the Settings. Raises ConfigError naming the wrong setting and the fix."""
    environ = os.environ if environ is None else environ
    tree: dict[str, Any] = {}
    origin: dict[tuple[str, str], str] = {}

    config_path = config_file or Path(environ.get("TGMON_CONFIG", "config/settings.toml"))
    if config_path.exists():
        try:
            with config_path.open("rb") as fh:
                tree = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_path}: not valid TOML ({exc}). Compare with config/settings.example.toml.") from None
        for section, values in tree.items():
            if isinstance(values, dict):
                for key in values:
                    origin[(section, key)] = f"[{section}] {key} in {config_path}"
    elif config_file is not None:
        raise ConfigError(f"config file {config_file} does not exist; copy config/settings.example.toml there")

    if env_file is None:
        env_file = Path(environ.get("TGMON_ENV_FILE", ".env"))
        if not env_file.exists() and Path("config/.env").exists():
            env_file = Path("config/.env")
    if env_file.exists():
        origin.update(_apply_env(tree, dotenv_values(env_file)))
    origin.update(_apply_env(tree, environ))

    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, origin)) from None


def _explain(exc: ValidationError, origin: dict[tuple[str, str], str]) -> str:
    lines = ["Configuration error:"]
    for err in exc.errors(include_input=False, include_url=False):
        loc = tuple(str(p) for p in err["loc"])
        key = (loc[0], loc[1]) if len(loc) >= 2 else (loc[0], "") if loc else ("", "")
        where = origin.get(key) or "setting " + ".".join(loc)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown setting; see config/settings.example.toml for the names"
        if len(loc) == 1:  # a check across settings of one section: the message names them itself
            lines.append(f"  {message}")
            continue
        shown = "" if key in _SECRET_FIELDS else f" ({'.'.join(loc)})"
        lines.append(f"  {where}{shown}: {message}")
    return "\n".join(lines)
