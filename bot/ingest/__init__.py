"""Ingestion: the pipeline every source feeds, and the Telegram Desktop export reader."""

from bot.ingest.export import ExportError, read_export
from bot.ingest.pipeline import Pipeline

__all__ = ["ExportError", "Pipeline", "read_export"]
