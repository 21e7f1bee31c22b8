"""Domain errors. hub/ maps each to an HTTP status; dispatch/ itself knows nothing of HTTP."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every refusal the domain gives; ``code`` is a stable machine-readable name."""

    code = "domain_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    """Unknown id, or an object outside the user's jurisdiction (indistinguishable on purpose)."""

    code = "not_found"


class Forbidden(DomainError):
    """The user sees the object but their role or relation to it does not allow the action."""

    code = "forbidden"


class IllegalTransition(DomainError):
    """The workflow table holds no such step from the current state; ``details['allowed']`` lists those it does."""

    code = "illegal_transition"


class StaleVersion(DomainError):
    """Optimistic locking: the client's version is not the event's current one."""

    code = "stale_version"


class Conflict(DomainError):
    """The request clashes with the current data (duplicate username, no upper level to escalate to, …)."""

    code = "conflict"


class Unsuitable(Conflict):
    """Well-formed input that does not fit the current data: an unknown category or assignee, a place outside
    the user's grids, a deadline not after the current one. HTTP 409 (the same request may succeed against
    other data), where InvalidInput (422) is input wrong whatever the data."""

    code = "unsuitable"


class InvalidInput(DomainError):
    """Input wrong whatever the data (a range crossing, a time with no UTC equivalent, …)."""

    code = "invalid_input"


class AuthenticationFailed(DomainError):
    code = "authentication_failed"


class LockedOut(AuthenticationFailed):
    """The wrong password that locked the account: answered like any other, told apart for the audit trail."""


class AccountLocked(AuthenticationFailed):
    """A login refused because the account is locked: answered exactly like a wrong password (no username
    enumeration), told apart only for the audit trail."""


class PasswordChangeRequired(Forbidden):
    """The account was marked to change its password: nothing else is allowed until it does."""

    code = "password_change_required"


class WrongPassword(Forbidden):
    """The current password given to confirm a change is not the account's."""

    code = "wrong_password"


class LastAdmin(Conflict):
    """The change would leave part of the tree with no active administrator."""

    code = "last_admin"
