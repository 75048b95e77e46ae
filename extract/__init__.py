"""Reading, checking and drafting study extraction files."""

from .schema import SCHEMA_VERSION, Study, json_schema
from .validate import Message, Report, validate_paths

__all__ = ["SCHEMA_VERSION", "Study", "json_schema", "Message", "Report", "validate_paths"]
