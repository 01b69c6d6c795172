"""Errors of the IoT API, answered in the FIWARE IoT Agent's shape: `{"name", "message"}`."""

from __future__ import annotations


class IotError(Exception):
    """An error with its HTTP status and IoT Agent error name."""

    status = 400
    name = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, str]:
        """The response body."""
        return {"name": self.name, "message": self.message}


class BadIotRequest(IotError):
    """The request cannot be processed as sent."""


class GroupNotFound(IotError):
    """No service group has this apikey."""

    status = 404
    name = "DEVICE_GROUP_NOT_FOUND"


class DeviceNotFound(IotError):
    """No device has this id (under this apikey)."""

    status = 404
    name = "DEVICE_NOT_FOUND"


class NotFound(IotError):
    """No such resource (a dead letter, say)."""

    status = 404
    name = "NOT_FOUND"


class DuplicateGroup(IotError):
    """A service group with this apikey exists already."""

    status = 409
    name = "DUPLICATE_GROUP"


class DuplicateDevice(IotError):
    """A device with this id exists already."""

    status = 409
    name = "DUPLICATE_DEVICE_ID"


class OutOfScope(IotError):
    """The caller may not provision or command devices of this entity type."""

    status = 403
    name = "FORBIDDEN"


class Unavailable(IotError):
    """The platform cannot do this now (queue full, MQTT not configured)."""

    status = 503
    name = "SERVICE_UNAVAILABLE"


class MeasureRejected(IotError):
    """The payload was refused and kept as a dead letter."""

    name = "BAD_MEASURE"
