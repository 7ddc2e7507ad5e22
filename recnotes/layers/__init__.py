"""layers models."""
