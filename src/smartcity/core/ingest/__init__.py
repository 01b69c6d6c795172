"""Device ingestion: IoT Agent provisioning, MQTT/HTTP southbound, commands, dead letters."""
