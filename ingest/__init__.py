"""Landing zone to bronze: the landing-zone contract and the ingest job that enforces it."""
