"""The one error type of the rule language: what is wrong (a code and its values), where, and a rule
that works."""

from __future__ import annotations


class RuleError(ValueError):
    """A rule that cannot be used. ``str(err)`` is the full English message (the CLI prints it).

    ``code`` names the problem and ``params`` its values, so a reply in any language is built from
    them (the bot's catalog key is ``rule_err_<code>``); ``column`` is the 1-based position in the rule
    where the problem is (None when it is the whole rule), ``example`` a correct rule close to what
    the user probably meant.
    """

    def __init__(
        self,
        message: str,
        *,
        column: int | None = None,
        example: str = "батальон OR обстрел",
        code: str = "invalid",
        **params: object,
    ) -> None:
        message = message[:1].upper() + message[1:]
        self.message = message
        self.column = column
        self.example = example
        self.code = code
        self.params = params
        where = f" (at column {column})" if column is not None else ""
        super().__init__(f"{message}{where}. Example of a rule that works: {example}")
