"""Interoperability tests: third-party NGSI-LD clients against the real platform server."""
