"""The composition root: the FastAPI app, settings, auth, the bus and the WebSocket fan-out.

hub/ wires the other packages together and owns everything that speaks HTTP or WebSocket: the app
factory, the REST routes of DESIGN section 9, bearer-token auth, settings (``GRIDHUB_`` environment),
the database engine, the event bus (in-process or Redis Streams), the outbox relay, the ``/ws``
endpoint and the command line. It may import dispatch/, stream/, vision/ and screens/; none of them
imports hub/.
"""
