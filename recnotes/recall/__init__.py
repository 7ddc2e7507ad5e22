"""recall models."""
