"""Observability: Prometheus metrics (`metrics`, `multiprocess`) and JSON logs (`logging`).

Holds the metric objects only and imports nothing of the HTTP edge, so that `gateway.py`
can depend on `Metrics`; the `/metrics` route itself is `http.metrics`.
"""

from hubgate.observability.logging import bind_request_id, configure_logging, current_request_id
from hubgate.observability.metrics import Metrics

__all__ = ["Metrics", "bind_request_id", "configure_logging", "current_request_id"]
