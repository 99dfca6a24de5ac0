"""Background work: exclusive rounds across replicas, channel checks, retention, video task polling."""
