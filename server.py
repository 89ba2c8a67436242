"""The inventory server's ASGI entry: `python server.py serve|migrate|seed|...` (cli.py), or
`uvicorn server:app` for tools that want an ASGI path; the app itself comes from bootstrap/."""

from __future__ import annotations

import sys

from starlette.types import ASGIApp, Receive, Scope, Send

from bootstrap.app import build_app
from ops import logs
from settings import Settings


def create_app(settings: Settings | None = None) -> ASGIApp:
    """The app for `settings`; without them (`serve`'s factory, `server:app`) it reads the
    environment and configures logging itself, as every worker process must."""
    if settings is None:
        settings = Settings.from_env()
        logs.configure(settings.log_level, json=settings.log_json)
    return build_app(settings)


class LazyApp:
    """`server:app`: builds the app on its first call (the lifespan's startup), not at import,
    so importing this module (as `python server.py migrate` does) builds nothing.

    A configuration that cannot build an app fails the startup, as a failing import did: uvicorn
    stops with the error instead of serving 500s."""

    def __init__(self) -> None:
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            try:
                self._app = create_app()
            except Exception as exc:
                if scope["type"] != "lifespan":
                    raise
                await receive()  # lifespan.startup
                await send({"type": "lifespan.startup.failed", "message": f"{exc!r}"})
                return
        await self._app(scope, receive, send)


app = LazyApp()


if __name__ == "__main__":
    from cli import main

    sys.exit(main())
