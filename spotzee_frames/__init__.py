"""spotzee-frames: push pandas frames into Spotzee and fire campaigns and journeys at a
filtered slice of a frame, with one result row per input row.

Importing the package registers the `df.spotzee` accessor.
"""

from . import _accessor  # noqa: F401  (registers df.spotzee)
from ._client import API_VERSION, DEFAULT_BASE_URL, Client
from ._errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    InsecureTransportError,
    Interrupted,
    InvalidRequestError,
    KeyScopeError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    SpotzeeError,
    TargetStateError,
    TransportError,
    ValidationError,
)
from ._progress import ProgressEvent
from ._version import __version__

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "APIError",
    "AuthenticationError",
    "Client",
    "ConfigurationError",
    "ConflictError",
    "InsecureTransportError",
    "Interrupted",
    "InvalidRequestError",
    "KeyScopeError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProgressEvent",
    "QuotaExceededError",
    "RateLimitError",
    "ServerError",
    "SpotzeeError",
    "TargetStateError",
    "TransportError",
    "ValidationError",
    "__version__",
]
