"""The event domain: jurisdictions, users and roles, the category taxonomy and the event workflow.

dispatch/ owns the tables of the jurisdiction tree (县区 → 镇街 → 村社 → 网格), users bound to a
jurisdiction, events with their action timeline, extension requests and the transactional outbox that
the realtime hub publishes from. Every state change goes through one table, ``workflow.TRANSITIONS``,
applied by ``service.apply_action`` in one transaction (event + action row + outbox rows); ``service.refusal``
is the one predicate behind both that check and ``allowed_actions``, and ``visibility`` the one rule of who
reads an event (detail and every list view). ``audit`` keeps the hash-chained security audit trail, written
in the transaction of the act it records. Accounts and their administration live in ``users.py``; who may
name which report source in ``sources.py``. It is pure
Python over SQLAlchemy: it may import the standard library, SQLAlchemy, pydantic, argon2 and yaml, and
nothing of hub/, stream/, vision/ or screens/ (it knows nothing of HTTP).
"""
