"""Observability: Prometheus metrics (`metrics`, `endpoint`, `multiprocess`) and JSON logs (`logging`).

Kept free of web-framework imports at package level so that `gateway.py` can depend on
`Metrics` without cycles; `/metrics` itself lives in `observability.endpoint`.
"""

from hubgate.observability.logging import bind_request_id, configure_logging, current_request_id
from hubgate.observability.metrics import Metrics

__all__ = ["Metrics", "bind_request_id", "configure_logging", "current_request_id"]
