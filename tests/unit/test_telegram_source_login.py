"""`tgmon login`'s dialogue against a client that raises REAL Telethon errors: wrong phone, code, password."""

from __future__ import annotations

from typing import Any

import pytest
from telethon import errors
from telethon.tl import types

from bot.config import ConfigError
from bot.telegram.clients import interactive_login

ME = types.User(id=1, first_name="Monitor", username="monitor_acc")


class LoginClient:
    def __init__(self, *, password: str | None = "right-pw") -> None:
        self.password = password
        self.calls: list[tuple[str, Any]] = []
        self.authorized = False

    async def connect(self) -> None:
        self.calls.append(("connect", None))

    async def is_user_authorized(self) -> bool:
        return self.authorized

    async def get_me(self) -> types.User:
        return ME

    async def send_code_request(self, phone: str) -> Any:
        self.calls.append(("send_code", phone))
        if phone != "+79001234567":
            raise errors.PhoneNumberInvalidError(request=None)
        return types.auth.SentCode(type=types.auth.SentCodeTypeApp(length=5), phone_code_hash="h4sh")

    async def sign_in(self, phone: str | None = None, code: str | None = None, *, password: str | None = None,
                      phone_code_hash: str | None = None) -> types.User:
        self.calls.append(("sign_in", code or password))
        if password is not None:
            if password != self.password:
                raise errors.PasswordHashInvalidError(request=None)
            return ME
        if code != "12345":
            raise errors.PhoneCodeInvalidError(request=None)
        assert phone_code_hash == "h4sh"
        if self.password is not None:
            raise errors.SessionPasswordNeededError(request=None)
        return ME


def _script(*answers: str) -> tuple[Any, list[str], list[str]]:
    pending = list(answers)
    asked: list[str] = []
    said: list[str] = []

    def prompt(text: str, **_: Any) -> str:
        asked.append(text)
        return pending.pop(0)

    return prompt, asked, said


async def test_wrong_phone_code_and_password_are_asked_again() -> None:
    client = LoginClient()
    prompt, asked, said = _script("12345", "+79001234567", "11111", "12 345", "wrong-pw", "right-pw")
    user = await interactive_login(client, phone=None, echo=said.append, prompt=prompt)  # type: ignore[arg-type]
    assert user is ME
    assert said == [
        "12345 is not a valid phone number; use the international format, e.g. +79001234567.",
        "That code is wrong; check it and try again.",
        "That password is wrong; try again.",
    ]
    assert [c for c in client.calls if c[0] == "sign_in"] == [
        ("sign_in", "11111"), ("sign_in", "12345"), ("sign_in", "wrong-pw"), ("sign_in", "right-pw")]
    assert asked[-1] == "Two-step verification password"


async def test_without_two_step_password_and_already_logged_in() -> None:
    client = LoginClient(password=None)
    prompt, _, _ = _script("12345")
    assert await interactive_login(client, phone="+79001234567", echo=print, prompt=prompt) is ME  # type: ignore[arg-type]
    client.authorized = True
    prompt, asked, _ = _script()
    assert await interactive_login(client, phone=None, echo=print, prompt=prompt) is ME  # type: ignore[arg-type]
    assert asked == []


async def test_too_many_wrong_codes_end_with_a_message() -> None:
    client = LoginClient()
    prompt, _, said = _script(*["00000"] * 5)
    with pytest.raises(ConfigError, match="Too many wrong codes"):
        await interactive_login(client, phone="+79001234567", echo=said.append, prompt=prompt)  # type: ignore[arg-type]
    assert len(said) == 5
