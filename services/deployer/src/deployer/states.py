"""Deployment actions and Qovery's StateEnum as StrEnums, and the states each action walks through."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    DEPLOY = "DEPLOY"
    STOP = "STOP"
    RESTART = "RESTART"
    DELETE = "DELETE"


class State(StrEnum):
    DEPLOYMENT_QUEUED = "DEPLOYMENT_QUEUED"
    BUILDING = "BUILDING"
    DEPLOYING = "DEPLOYING"
    DEPLOYED = "DEPLOYED"
    BUILD_ERROR = "BUILD_ERROR"
    DEPLOYMENT_ERROR = "DEPLOYMENT_ERROR"
    STOP_QUEUED = "STOP_QUEUED"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    STOP_ERROR = "STOP_ERROR"
    RESTART_QUEUED = "RESTART_QUEUED"
    RESTARTING = "RESTARTING"
    RESTARTED = "RESTARTED"
    RESTART_ERROR = "RESTART_ERROR"
    DELETE_QUEUED = "DELETE_QUEUED"
    DELETING = "DELETING"
    DELETED = "DELETED"
    DELETE_ERROR = "DELETE_ERROR"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"
    READY = "READY"


A, S = Action, State
QUEUED: dict[str, State] = {
    A.DEPLOY: S.DEPLOYMENT_QUEUED,
    A.STOP: S.STOP_QUEUED,
    A.RESTART: S.RESTART_QUEUED,
    A.DELETE: S.DELETE_QUEUED,
}
ONGOING: dict[str, State] = {A.DEPLOY: S.DEPLOYING, A.STOP: S.STOPPING, A.RESTART: S.RESTARTING, A.DELETE: S.DELETING}
DONE: dict[str, State] = {A.DEPLOY: S.DEPLOYED, A.STOP: S.STOPPED, A.RESTART: S.RESTARTED, A.DELETE: S.DELETED}
FAILED: dict[str, State] = {
    A.DEPLOY: S.DEPLOYMENT_ERROR,
    A.STOP: S.STOP_ERROR,
    A.RESTART: S.RESTART_ERROR,
    A.DELETE: S.DELETE_ERROR,
}
TERMINAL: frozenset[str] = frozenset({S.DEPLOYED, S.STOPPED, S.RESTARTED, S.DELETED, S.CANCELED, S.READY})

# StateEnum -> (ServiceActionEnum, ServiceActionStatusEnum)
_ACTION_STATUS: dict[str, tuple[str, str]] = {
    **{state: (action, "QUEUED") for action, state in QUEUED.items()},
    **{state: (action, "ONGOING") for action, state in ONGOING.items()},
    **{state: (action, "SUCCESS") for action, state in DONE.items()},
    **{state: (action, "ERROR") for action, state in FAILED.items()},
    S.BUILDING: ("DEPLOY", "ONGOING"),
    S.BUILD_ERROR: ("DEPLOY", "ERROR"),
    S.CANCELING: ("DEPLOY", "CANCELING"),
    S.CANCELED: ("DEPLOY", "CANCELED"),
}


def action_of(state: str) -> tuple[str, str]:
    """The Qovery action and action status a service in `state` shows (UNKNOWN/NEVER for others)."""
    return _ACTION_STATUS.get(state, ("UNKNOWN", "NEVER"))
