"""One in-memory shape for stored variables and computed built-ins, with the scope hierarchy rules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from catalog.models import Variable

SERVICE_SCOPES = ("APPLICATION", "CONTAINER", "JOB", "HELM")
UNSUPPORTED_SCOPES = ("TERRAFORM", "AGENTIC_WORKFLOW")
# BUILT_IN > PROJECT > ENVIRONMENT > service: a higher level number is a lower scope, and wins.
LEVEL = {"BUILT_IN": 0, "PROJECT": 1, "ENVIRONMENT": 2, **{scope: 3 for scope in SERVICE_SCOPES}}


@dataclass(frozen=True)
class ServiceRef:
    """The service a variable belongs to or describes (VariableResponse.service_id/name/type)."""

    id: uuid.UUID
    name: str
    kind: str


@dataclass
class Item:
    """A variable as the rules and the resolver see it.

    `project_id`/`environment_id`/`service_id` place it in the hierarchy (who sees it): a project
    variable has neither environment nor service, an environment-wide built-in has no service.
    `value` is the plain value; a secret's is None until the resolver decrypts it into `secret`.
    """

    id: uuid.UUID
    key: str
    scope: str
    variable_type: str  # VALUE | FILE | ALIAS | OVERRIDE | BUILT_IN
    project_id: uuid.UUID
    environment_id: uuid.UUID | None
    service_id: uuid.UUID | None
    parent_id: uuid.UUID
    created_at: datetime
    value: str | None = None
    is_secret: bool = False
    mount_path: str | None = None
    interpolate: bool = False
    target_id: uuid.UUID | None = None
    target_key: str | None = None
    description: str | None = None
    updated_at: datetime | None = None
    service: ServiceRef | None = None
    secret: str | None = field(default=None, repr=False)  # a decrypted secret, resolver only

    @property
    def level(self) -> int:
        return LEVEL[self.scope]

    @property
    def is_builtin(self) -> bool:
        return self.variable_type == "BUILT_IN"

    @property
    def plaintext(self) -> str | None:
        """The value a workload gets: the decrypted secret, or the plain value."""
        return self.secret if self.is_secret else self.value


def level_of(scope: str) -> int:
    return LEVEL[scope]


def value_context(variable_id: uuid.UUID) -> str:
    """The crypto context binding a secret's ciphertext to its variable row."""
    return f"variable:{variable_id}:value"


def from_row(row: Variable, service: ServiceRef | None = None) -> Item:
    return Item(
        id=row.id,
        key=row.key,
        scope=row.scope,
        variable_type=row.variable_type,
        project_id=row.project_id,
        environment_id=row.environment_id,
        service_id=row.service_id,
        parent_id=row.parent_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        value=None if row.is_secret else row.value,
        is_secret=row.is_secret,
        mount_path=row.mount_path,
        interpolate=row.enable_interpolation_in_file,
        target_id=row.target_id,
        target_key=row.target_key,
        description=row.description,
        service=service,
    )


def sees(project_id: uuid.UUID, environment_id: uuid.UUID | None, service_id: uuid.UUID | None, item: Item) -> bool:
    """Whether a parent placed at (project, environment, service) sees `item` (it is at or above the parent)."""
    if item.service_id is not None:
        return service_id == item.service_id
    if item.environment_id is not None:
        return environment_id == item.environment_id
    return project_id == item.project_id
