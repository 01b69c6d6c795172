"""NGSI-LD errors, rendered as ProblemDetails (ETSI GS CIM 009, clause 5.5.2)."""

from __future__ import annotations

from typing import Any

ERROR_BASE = "https://uri.etsi.org/ngsi-ld/errors/"


class NgsiLdError(Exception):
    """An error with its NGSI-LD problem type and HTTP status."""

    status: int = 400
    problem: str = "BadRequestData"
    title: str = "Bad request data"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """Return the ProblemDetails body of this error."""
        body: dict[str, Any] = {
            "type": ERROR_BASE + self.problem,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class InvalidRequest(NgsiLdError):
    """The request is syntactically wrong (bad JSON, bad parameter)."""

    problem = "InvalidRequest"
    title = "Invalid request"


class BadRequestData(NgsiLdError):
    """The request is well formed but its content is not acceptable."""

    problem = "BadRequestData"
    title = "Bad request data"


class ResourceNotFound(NgsiLdError):
    """The entity, attribute, type or context does not exist."""

    status = 404
    problem = "ResourceNotFound"
    title = "Resource not found"


class AlreadyExists(NgsiLdError):
    """An entity with this id exists already."""

    status = 409
    problem = "AlreadyExists"
    title = "Already exists"


class OperationNotSupported(NgsiLdError):
    """The broker cannot perform this operation (422 by the standard's table)."""

    status = 422
    problem = "OperationNotSupported"
    title = "Operation not supported"


class NoMultiTenantSupport(NgsiLdError):
    """A tenant was named (NGSILD-Tenant) but this broker has a single tenant."""

    status = 501
    problem = "NoMultiTenantSupport"
    title = "No multi-tenant support"


class LdContextNotAvailable(NgsiLdError):
    """A remote @context could not be fetched or is not a JSON-LD context."""

    status = 503
    problem = "LdContextNotAvailable"
    title = "JSON-LD context not available"


class TooManyResults(NgsiLdError):
    """The query would return more results than the broker allows."""

    status = 403
    problem = "TooManyResults"
    title = "Too many results"


class PayloadTooLarge(NgsiLdError):
    """The request body exceeds the configured limit."""

    status = 413
    problem = "RequestEntityTooLarge"
    title = "Request entity too large"


class UnsupportedMediaType(NgsiLdError):
    """The Content-Type is neither application/json nor application/ld+json."""

    status = 415
    problem = "UnsupportedMediaType"
    title = "Unsupported media type"


class NotAcceptable(NgsiLdError):
    """The Accept header asks for a representation the broker cannot give."""

    status = 406
    problem = "NotAcceptable"
    title = "Not acceptable"


class InternalError(NgsiLdError):
    """Something went wrong inside the broker."""

    status = 500
    problem = "InternalError"
    title = "Internal error"


class Conflict(NgsiLdError):
    """The write lost a race with another write to the same entity; retry it."""

    status = 409
    problem = "Conflict"
    title = "Conflict"
