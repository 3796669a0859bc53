"""Alerts to other services: e-mail, Matrix, Slack, Discord, ntfy, webhooks, through apprise.

The only part that imports apprise. `targets.py` is the service the bot (and the web view) call:
add, list, remove, test. `sender.py` is the delivery worker's `domain.Notifier`: it sends one outbox
row to its target. `render.py` turns a digest chunk's Telegram HTML into the service's format.
`secret.py` seals the stored URLs. See docs/notifications.md.
"""
