"""The HTTP edge: routes, middleware, body reading, SSE framing."""
