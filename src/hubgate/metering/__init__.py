"""Token counting and (later) prices and cost."""
