"""The HTTP and WebSocket surface around the schema: the GraphQL view, middleware, small routes
(mounted by server.py)."""
