"""The user client and the bot client, built from settings. Neither is started here.

Both use the same connection settings: the api id and hash, and an optional custom server
(`TELEGRAM_SERVER` host:port, `TELEGRAM_DC_ID`, `TELEGRAM_SERVER_PUBLIC_KEY`) for Telegram's test
environment or a private deployment. A monitoring account's session is a string (`TELEGRAM_SESSION`
for `main`, `TELEGRAM_SESSION_<NAME>` for the others) or a session file kept with mode 600 (it is the
account's key).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from telethon import TelegramClient
from telethon.crypto import rsa
from telethon.sessions import SQLiteSession, StringSession

from bot.config import MAIN_ACCOUNT, ConfigError, Settings, TelegramSettings, account_session_env

log = logging.getLogger(__name__)

NEEDS_API = (
    "Telegram is not configured: set TELEGRAM_API_ID and TELEGRAM_API_HASH (from https://my.telegram.org, "
    "'API development tools') in .env or the environment."
)
NEEDS_BOT = "The bot is not configured: set TELEGRAM_BOT_TOKEN (from @BotFather) in .env or the environment."


def secure_file(path: Path) -> Path:
    """Create `path` (and its folder) readable by the owner only, or tighten an existing one to 600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return path


def session_path(settings: TelegramSettings, *, bot: bool = False, account: str = MAIN_ACCOUNT) -> Path:
    """The session file: `telegram.session_file` for the main account; `<its stem>-<name>.session`
    next to it for another account (data/tgmon-user-second.session); tgmon-bot.session for the bot."""
    path = settings.session_file
    if bot:
        path = path.with_name("tgmon-bot.session")
    elif account != MAIN_ACCOUNT:
        path = path.with_name(f"{path.name.removesuffix('.session')}-{account}.session")
    return path if path.suffix == ".session" else path.with_name(path.name + ".session")


def user_session(settings: TelegramSettings, account: str = MAIN_ACCOUNT) -> StringSession | SQLiteSession:
    secret = settings.account_session(settings.require_account(account))
    if secret is not None and secret.get_secret_value():
        try:
            return StringSession(secret.get_secret_value().strip())
        except Exception:  # a truncated or mangled paste
            flag = "" if account == MAIN_ACCOUNT else f" --account {account}"
            raise ConfigError(
                f"{account_session_env(account)} is not a valid Telethon session string; run "
                f"`tgmon login{flag} --string` again and paste the whole line."
            ) from None
    return SQLiteSession(str(secure_file(session_path(settings, account=account))))


def missing_session(settings: TelegramSettings, account: str = MAIN_ACCOUNT) -> str | None:
    """Why the account cannot sign in without the operator, or None when it has a session: a session
    string, or a session file holding an authorisation key. Checked offline (the server says later
    whether the key is still signed in). Creates nothing."""
    secret = settings.account_session(settings.require_account(account))
    if secret is not None and secret.get_secret_value().strip():
        return None
    path = session_path(settings, account=account)
    flag = "" if account == MAIN_ACCOUNT else f" --account {account}"
    fix = (f"run `tgmon login{flag}` once (or set {account_session_env(account)} to the line "
           f"`tgmon login{flag} --string` prints), then start tgmon again")
    if not path.exists():
        return f"the monitoring account {account} is not signed in (no {account_session_env(account)} and no " \
               f"session file {path}): {fix}."
    try:
        session = SQLiteSession(str(path))
        try:
            signed = session.auth_key is not None
        finally:
            session.close()
    except Exception:  # not a session file: telethon's own error would be less clear
        return f"{path} is not a Telethon session file: move it away and {fix}."
    if not signed:
        return f"the monitoring account {account} is not signed in (its session file {path} holds no login): {fix}."
    return None


def load_public_key(path: Path) -> str:
    """The server's RSA key as PKCS#1 PEM (what Telethon takes), from a PKCS#1 or X.509 SubjectPublicKeyInfo PEM."""
    import rsa as pyrsa

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"TELEGRAM_SERVER_PUBLIC_KEY: cannot read {path}: {exc.strerror}") from None
    try:
        if b"BEGIN RSA PUBLIC KEY" in data:
            key = pyrsa.PublicKey.load_pkcs1(data)
        else:
            key = pyrsa.PublicKey.load_pkcs1_openssl_pem(data)
    except Exception:
        raise ConfigError(
            f"TELEGRAM_SERVER_PUBLIC_KEY: {path} is not an RSA public key in PEM form "
            "(-----BEGIN RSA PUBLIC KEY----- or -----BEGIN PUBLIC KEY-----)."
        ) from None
    pem: bytes = key.save_pkcs1()
    return pem.decode("ascii")


def server_address(settings: TelegramSettings) -> tuple[int, str, int] | None:
    """(dc id, host, port) of the custom server, or None for Telegram's own."""
    if settings.server is None:
        if settings.dc_id is not None or settings.server_public_key is not None:
            raise ConfigError("TELEGRAM_DC_ID and TELEGRAM_SERVER_PUBLIC_KEY need TELEGRAM_SERVER (host:port) too.")
        return None
    if settings.dc_id is None:
        raise ConfigError("TELEGRAM_SERVER needs TELEGRAM_DC_ID: the data center id of that server (e.g. 2).")
    host, _, port = settings.server.rpartition(":")
    return settings.dc_id, host.strip("[]"), int(port)


def apply_server(client: TelegramClient, settings: TelegramSettings) -> None:
    """Point a new session at the custom server and trust its RSA key.

    A session that already holds an authorisation keeps the address it has: the server may have
    moved it to another data center during login, and that address is the right one.
    """
    address = server_address(settings)
    if address is None:
        return
    if settings.server_public_key is not None:
        rsa.add_key(load_public_key(settings.server_public_key), old=False)
    session = client.session
    if session.auth_key is None:
        session.set_dc(*address)
    elif session.server_address != address[1]:
        log.info("the session is bound to %s (dc %s); TELEGRAM_SERVER applies to new sessions",
                 session.server_address, session.dc_id)


class _QuietRetries(logging.Filter):
    """Telethon warns at every failed connection try; the caller reports the failure once itself
    (one line an attempt), so these show at DEBUG only."""

    NOISE = ("Attempt %d at connecting failed", "Connection error %d during auth_key gen",
             "Attempt %d at new auth_key failed", "Server closed the connection",
             "Automatic reconnection failed")

    def __init__(self) -> None:
        super().__init__()
        self.last: BaseException | None = None  # why the latest try failed: Telethon's own error hides it

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(self.NOISE):
            args = record.args if isinstance(record.args, tuple) else ()
            if args and isinstance(args[-1], BaseException):
                self.last = args[-1]
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


_QUIET = _QuietRetries()


def last_connection_failure() -> BaseException | None:
    """The error of the latest failed connection try to Telegram (refused, timed out, ...), if any."""
    return _QUIET.last


def quiet_connection_retries() -> None:
    for name in ("telethon.network.mtprotosender", "telethon.network.connection.connection"):
        logger = logging.getLogger(name)
        if _QUIET not in logger.filters:
            logger.addFilter(_QUIET)


def _client(session: Any, settings: Settings, **kwargs: Any) -> TelegramClient:
    tg = settings.telegram
    quiet_connection_retries()
    if not tg.user_configured:
        raise ConfigError(NEEDS_API)
    assert tg.api_id is not None and tg.api_hash is not None
    client = TelegramClient(
        session,
        tg.api_id,
        tg.api_hash.get_secret_value(),
        device_model="tgmon",
        app_version="tgmon 0.1",
        catch_up=False,  # after long downtime Telethon drops channel gaps silently: we fill them ourselves
        **kwargs,
    )
    apply_server(client, tg)
    return client


def make_user_client(settings: Settings, account: str = MAIN_ACCOUNT, *, session: Any = None) -> TelegramClient:
    """A monitoring account (`main`, or one named in TELEGRAM_ACCOUNTS). Every FloodWait is raised
    (threshold 0) so the source waits it visibly; no automatic reconnect: the ingest service
    reconnects itself, so it can gap-fill after each one. `session` overrides the configured one
    (`tgmon login --string` signs in into a fresh StringSession)."""
    settings.telegram.require_account(account)
    session = session if session is not None else user_session(settings.telegram, account)
    return _client(session, settings, flood_sleep_threshold=0,
                   connection_retries=3, retry_delay=2, auto_reconnect=False)


def make_bot_client(settings: Settings) -> TelegramClient:
    """The subscriber bot (sign in with `await client.start(bot_token=...)`). Its session is its own file."""
    if settings.telegram.bot_token is None:
        raise ConfigError(NEEDS_BOT)
    session = SQLiteSession(str(secure_file(session_path(settings.telegram, bot=True))))
    return _client(session, settings, connection_retries=3, retry_delay=2, auto_reconnect=True)


async def interactive_login(
    client: TelegramClient, *, phone: str | None, echo: Callable[[str], Any], prompt: Callable[..., Any],
    attempts: int = 5,
) -> Any:
    """Phone -> login code -> two-step password, asking again after a wrong answer. Returns the user."""
    from telethon import errors

    await client.connect()
    if await client.is_user_authorized():
        return await client.get_me()
    for _ in range(attempts):
        number = phone or prompt("Phone number of the monitoring account (international format, +7...)")
        phone = None
        try:
            sent = await client.send_code_request(number)
        except errors.PhoneNumberInvalidError:
            echo(f"{number} is not a valid phone number; use the international format, e.g. +79001234567.")
            continue
        except (errors.PhoneNumberBannedError, errors.PhoneNumberFloodError) as exc:
            raise ConfigError(f"Telegram refuses this number ({exc.__class__.__name__}); try another account.") from None
        except errors.FloodWaitError as exc:
            raise ConfigError(f"Telegram asks to wait {exc.seconds} s before sending another code.") from None
        for _ in range(attempts):
            code = str(prompt("Login code (sent by Telegram to your app)")).strip().replace(" ", "")
            try:
                return await client.sign_in(phone=number, code=code, phone_code_hash=sent.phone_code_hash)
            except errors.PhoneCodeInvalidError:
                echo("That code is wrong; check it and try again.")
            except errors.PhoneCodeExpiredError:
                echo("That code expired; a new one is on its way.")
                sent = await client.send_code_request(number)
            except errors.SessionPasswordNeededError:
                return await _password(client, echo, prompt, attempts)
        raise ConfigError("Too many wrong codes; run `tgmon login` again later.")
    raise ConfigError("No valid phone number given; run `tgmon login` again.")


async def _password(client: TelegramClient, echo: Callable[[str], Any], prompt: Callable[..., Any],
                    attempts: int) -> Any:
    from telethon import errors

    for _ in range(attempts):
        password = prompt("Two-step verification password", hide_input=True)
        try:
            return await client.sign_in(password=password)
        except errors.PasswordHashInvalidError:
            echo("That password is wrong; try again.")
    raise ConfigError("Too many wrong passwords; run `tgmon login` again later.")


def new_string_session() -> StringSession:
    """An empty session kept as a string (`tgmon login --string`), for `make_user_client(session=...)`."""
    return StringSession()


def session_string(client: TelegramClient) -> str:
    """The client's session as the string TELEGRAM_SESSION takes."""
    return StringSession.save(client.session)
