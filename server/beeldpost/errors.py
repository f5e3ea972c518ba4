"""Errors that carry their HTTP status and a plain-language explanation.

The core raises these; the HTTP layer turns them into short text/plain answers
(with CORS, like every response) so viewers can show them and never see HTML.
"""

from __future__ import annotations


class BeeldpostError(Exception):
    status = 500
    title = "Internal Server Error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(BeeldpostError):
    status = 400
    title = "Bad Request"


class NotFound(BeeldpostError):
    status = 404
    title = "Not Found"


class NotPublic(BeeldpostError):
    """The image's full scan is withheld from whoever asks (its record's access tier)
    and it has no public face to show instead: 401, with the scheme viewers answer
    with a token (IIIF Authorization), so that a client knows signing in may help."""

    status = 401
    title = "Unauthorized"

    def __init__(self, message: str):
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="beeldpost"'})


class MethodNotAllowed(BeeldpostError):
    status = 405
    title = "Method Not Allowed"


class NotImplementedFeature(BeeldpostError):
    status = 501
    title = "Not Implemented"


class SourceError(BeeldpostError):
    """A source file that exists but cannot be turned into an image.

    Answered 404-like from the client's point of view would hide a broken archive
    file from its keepers, so it gets its own status: the request was fine, the
    file is not.
    """

    status = 422
    title = "Unprocessable Source Image"


class Overloaded(BeeldpostError):
    """Admission control: a heavy render past this worker's bound. Retry later.

    `hold`: seconds an event loop keeps the answer back (holding no thread), so that a
    client that ignores Retry-After and asks again at once cannot spin on refusals."""

    status = 503
    title = "Service Unavailable"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None,
                 hold: float = 0.0):
        super().__init__(message, headers=headers)
        self.hold = hold


class StorageUnavailable(BeeldpostError):
    """Object storage (a bucket holding sources or derivatives) cannot be reached or
    refuses us. Raised by the storage layer with a `Retry-After`: storage comes back."""

    status = 503
    title = "Service Unavailable"
