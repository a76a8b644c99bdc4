"""Errors raised while generating an answer.

Every generator failure is a `GenerationError`; an unreachable or failing backend is also a
`BackendUnavailable`, so callers that handle every unreachable service in one place can.
"""

from __future__ import annotations

from ingest.errors import BackendUnavailable, MMRagError


class GenerationError(MMRagError):
    """An answer could not be generated. `str(err)` names the backend and the reason."""


class GeneratorUnavailable(BackendUnavailable, GenerationError):
    """The generation backend is unreachable, timed out, failed (5xx) or dropped the stream."""


class BadGeneratorResponse(GenerationError):
    """The backend answered with something we cannot use: a 4xx, an error object or a
    malformed chunk."""
