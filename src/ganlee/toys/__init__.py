"""toys stage."""
