"""NGSI-LD context broker: entities, query language, geo, temporal history."""
