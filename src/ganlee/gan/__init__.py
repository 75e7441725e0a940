"""gan stage."""
