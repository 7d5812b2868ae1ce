"""System checks for process bundles (filled in by the registry)."""
