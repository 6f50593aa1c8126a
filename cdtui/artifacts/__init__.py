"""The artifact repository: named, content-addressed bytes (local or S3), provenance,
promotion and gc. See ``repository.py``."""
