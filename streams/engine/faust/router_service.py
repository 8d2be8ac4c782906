"""The ingest router's children as a service of the Faust worker."""

from __future__ import annotations

from mode import Service

from sqm.streams.ingest_pool import IngestRouter


class RouterService(Service):
    """Starts a router's children with the worker's services (while its consumer groups join,
    which takes seconds), not when the first batch needs them."""

    def __init__(self, router: IngestRouter) -> None:
        super().__init__()
        self.router = router

    async def on_start(self) -> None:
        self.router.start()
