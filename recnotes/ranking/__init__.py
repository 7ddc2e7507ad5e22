"""ranking models."""
