"""Delivery: the outbox, the shared rate limiter and the worker that sends due chunks."""
