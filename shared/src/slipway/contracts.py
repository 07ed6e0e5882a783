"""Event contracts: subjects and payload models shared by producers and consumers."""

from __future__ import annotations

import uuid

from pydantic import BaseModel


class Subjects:
    ACCOUNT_CREATED = "evt.iam.account.created"
    API_TOKEN_CREATED = "evt.iam.api_token.created"
    API_TOKEN_REVOKED = "evt.iam.api_token.revoked"
    ORGANIZATION_CREATED = "evt.iam.organization.created"
    ORGANIZATION_UPDATED = "evt.iam.organization.updated"
    ORGANIZATION_DELETED = "evt.iam.organization.deleted"
    MEMBER_ADDED = "evt.iam.member.added"
    MEMBER_REMOVED = "evt.iam.member.removed"
    PROJECT_CREATED = "evt.catalog.project.created"
    PROJECT_DELETED = "evt.catalog.project.deleted"
    ENVIRONMENT_CREATED = "evt.catalog.environment.created"
    ENVIRONMENT_UPDATED = "evt.catalog.environment.updated"
    ENVIRONMENT_DELETED = "evt.catalog.environment.deleted"  # the deployer uninstalls what ran there
    SERVICE_CREATED = "evt.catalog.service.created"  # payload: service_id, environment_id, kind (never secrets)
    SERVICE_UPDATED = "evt.catalog.service.updated"
    SERVICE_DELETED = "evt.catalog.service.deleted"
    # payload: variable_id, scope, parent_id, project_id, environment_id? (never keys' values or secrets)
    VARIABLE_CREATED = "evt.catalog.variable.created"
    VARIABLE_UPDATED = "evt.catalog.variable.updated"
    VARIABLE_DELETED = "evt.catalog.variable.deleted"
    # an accepted push pinned these services to its commit: environment_id, project_id, provider, delivery_id,
    # branch, commit, services [{id, kind, name}] (the deployer queues their deployment)
    GIT_PUSHED = "evt.catalog.git.pushed"
    # an accepted pull (merge) request delivery, acted on by catalog's own consumer (previews open, move, close):
    # delivery (the delivery row's id), provider, pull (what the delivery says: action, number, branches, commit…)
    GIT_PULL_RECEIVED = "evt.catalog.git.pull.received"
    # catalog asks for an environment's action (a preview opened or updated, a schedule's start or stop):
    # environment_id, project_id, action (DEPLOY | STOP), service_ids (None: all), versions {id: {git_commit_id}},
    # origin, triggered_by (the deployer queues it)
    ENVIRONMENT_ACTION_REQUESTED = "evt.catalog.environment.action.requested"
    # payload: BuildFinished (never secrets: no token, no build-arg value)
    BUILD_SUCCEEDED = "evt.builder.build.succeeded"
    BUILD_FAILED = "evt.builder.build.failed"
    BUILD_CANCELED = "evt.builder.build.canceled"
    # payload: environment_id, execution_id, state, and service_id + kind for a service's state
    DEPLOYER_STATUS_CHANGED = "evt.deployer.status.changed"
    # payload: environment_id, service_ids: a deleted service's (or environment's) uninstall is over, nothing of
    # them runs any more (their images may go)
    DEPLOYER_SERVICES_FORGOTTEN = "evt.deployer.services.forgotten"
    # core NATS request/reply between logs and the deployer (not JetStream events):
    LOGSCTL_TAIL = "logsctl.tail"  # {environment_id, service_id, since_ms?}: start or keep alive a service's tail
    LOGSCTL_STATUS = "logsctl.status"  # {environment_id} -> {ok, services: [ServiceStatus]}


class AccountCreated(BaseModel):
    user_id: uuid.UUID
    email: str
    is_admin: bool


class ApiTokenCreated(BaseModel):
    token_id: uuid.UUID
    user_id: uuid.UUID
    organization_id: uuid.UUID | None
    name: str
    # never the secret: only its non-secret display prefix
    display_prefix: str


class ApiTokenRevoked(BaseModel):
    token_id: uuid.UUID


class OrganizationCreated(BaseModel):
    organization_id: uuid.UUID
    name: str
    owner_id: uuid.UUID


class OrganizationUpdated(BaseModel):
    organization_id: uuid.UUID
    name: str


class OrganizationDeleted(BaseModel):
    organization_id: uuid.UUID


class MemberChanged(BaseModel):
    organization_id: uuid.UUID
    user_id: uuid.UUID
    role_id: uuid.UUID | None


class BuildFinished(BaseModel):
    """A build reached SUCCEEDED, FAILED or CANCELED (`image` set on success; `error` masked)."""

    build_id: uuid.UUID
    deployment_id: str
    service_id: str
    image: str | None
    status: str
    error: str | None
