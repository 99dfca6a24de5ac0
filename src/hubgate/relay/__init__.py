"""The relay: one metered exchange from caller to upstream and back (see ARCHITECTURE.md)."""
