"""ORM models of the catalog schema; importing this package registers every table on Base.metadata."""

from catalog.models.base import SCHEMA, Base, outbox, processed_messages
from catalog.models.credentials import GitToken, GitWebhookSecret, WebhookDelivery
from catalog.models.organization import Cluster, ContainerRegistry, Organization
from catalog.models.previews import GitReport, GitRepository, Preview
from catalog.models.project import DeploymentRule, DeploymentStage, Environment, Project, Service
from catalog.models.tombstones import Tombstone
from catalog.models.variables import CustomDomain, JobOutput, Variable

__all__ = [
    "SCHEMA",
    "Base",
    "Cluster",
    "ContainerRegistry",
    "CustomDomain",
    "DeploymentRule",
    "DeploymentStage",
    "Environment",
    "GitReport",
    "GitRepository",
    "GitToken",
    "GitWebhookSecret",
    "JobOutput",
    "Organization",
    "Preview",
    "Project",
    "Service",
    "Tombstone",
    "Variable",
    "WebhookDelivery",
    "outbox",
    "processed_messages",
]
