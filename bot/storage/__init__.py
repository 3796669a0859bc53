"""Storage: the typed models, `Database` (engine, `uow()`), the repositories and the Alembic
migrations. Imports no other part of tgmon but `bot.config` and `bot.domain`."""
