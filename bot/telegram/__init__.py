"""The only package that imports Telethon: clients, the channel source, conversion to `domain.Post`,
the bot's handlers and the sender. Past it there are only the project's own types."""
