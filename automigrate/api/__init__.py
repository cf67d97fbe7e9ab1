"""The REST API under /api/ and the InfluxDB-compatible /write endpoint."""
