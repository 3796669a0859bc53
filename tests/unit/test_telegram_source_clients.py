"""Clients from settings: session file mode 600, string sessions, the custom server on both clients."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import rsa as pyrsa
from pyasn1.codec.der import encoder
from pyasn1.type import univ
from rsa.asn1 import OpenSSLPubKey
from rsa.pem import save_pem
from telethon.crypto import AuthKey
from telethon.crypto import rsa as telethon_rsa
from telethon.sessions import StringSession

from bot.config import ConfigError, Settings
from bot.telegram.clients import load_public_key, make_bot_client, make_user_client


def _settings(tmp_path: Path, **telegram: object) -> Settings:
    base = {"api_id": 12345, "api_hash": "0123456789abcdef0123456789abcdef",
            "session_file": str(tmp_path / "sessions" / "tgmon-user.session")}
    return Settings.model_validate({"telegram": {**base, **telegram}})


def test_without_credentials_the_error_names_the_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_API_ID and TELEGRAM_API_HASH"):
        make_user_client(Settings())
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        make_bot_client(_settings(tmp_path))


def test_session_file_is_created_owner_only(tmp_path: Path) -> None:
    client = make_user_client(_settings(tmp_path))
    path = tmp_path / "sessions" / "tgmon-user.session"
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert client.flood_sleep_threshold == 0  # FloodWaits reach the source, which waits them visibly
    client.session.close()


def test_string_session_is_used_and_a_mangled_one_is_explained(tmp_path: Path) -> None:
    made = StringSession()
    made.set_dc(2, "149.154.167.51", 443)
    made.auth_key = AuthKey(bytes(range(256)))
    client = make_user_client(_settings(tmp_path, session=made.save()))
    assert isinstance(client.session, StringSession)
    assert (client.session.dc_id, client.session.auth_key.key) == (2, bytes(range(256)))
    with pytest.raises(ConfigError, match="tgmon login --string") as err:
        make_user_client(_settings(tmp_path, session="1not-a-session"))
    assert "1not-a-session" not in str(err.value)


def test_custom_server_applies_to_user_and_bot(tmp_path: Path) -> None:
    public, _private = pyrsa.newkeys(512)
    pem = tmp_path / "server.pem"
    pem.write_bytes(public.save_pkcs1())
    settings = _settings(tmp_path, server="10.0.0.5:4430", dc_id=3, server_public_key=str(pem), bot_token="1:abc")
    for client in (make_user_client(settings), make_bot_client(settings)):
        assert (client.session.dc_id, client.session.server_address, client.session.port) == (3, "10.0.0.5", 4430)
        client.session.close()
    fingerprint = telethon_rsa._compute_fingerprint(public)
    assert fingerprint in telethon_rsa._server_keys
    assert load_public_key(pem) == public.save_pkcs1().decode()


def test_x509_public_key_is_accepted_and_garbage_explained(tmp_path: Path) -> None:
    public, _ = pyrsa.newkeys(512)
    spki = tmp_path / "spki.pem"
    # wrap the PKCS#1 key in an X.509 SubjectPublicKeyInfo ("BEGIN PUBLIC KEY", what openssl writes)
    info = OpenSSLPubKey()
    info["header"]["oid"] = univ.ObjectIdentifier("1.2.840.113549.1.1.1")
    info["key"] = univ.BitString.fromOctetString(public.save_pkcs1("DER"))
    spki.write_bytes(save_pem(encoder.encode(info), "PUBLIC KEY"))
    assert load_public_key(spki) == public.save_pkcs1().decode()

    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    with pytest.raises(ConfigError, match=r"TELEGRAM_SERVER_PUBLIC_KEY: .* is not an RSA public key"):
        load_public_key(junk)
    with pytest.raises(ConfigError, match="cannot read"):
        load_public_key(tmp_path / "missing.pem")


def test_server_needs_its_dc(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_DC_ID"):
        make_user_client(_settings(tmp_path, server="10.0.0.5:443"))
    with pytest.raises(ConfigError, match="need TELEGRAM_SERVER"):
        make_user_client(_settings(tmp_path, dc_id=2))
