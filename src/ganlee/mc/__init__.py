"""mc stage."""
