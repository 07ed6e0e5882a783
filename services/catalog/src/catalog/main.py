"""catalog application factory."""

from pathlib import Path

from fastapi import FastAPI

from catalog.application.endpoints import router as application_router
from catalog.background import hooks
from catalog.cluster.endpoints import defaults_router as cluster_defaults_router
from catalog.cluster.endpoints import router as cluster_router
from catalog.container.endpoints import router as container_router
from catalog.container.endpoints import service_scope_router
from catalog.database.endpoints import router as database_router
from catalog.domain.endpoints import router as custom_domain_router
from catalog.environment.endpoints import router as environment_router
from catalog.environment.scope import scope_router
from catalog.events.handlers import subscriptions
from catalog.gittoken.endpoints import router as git_token_router
from catalog.job.endpoints import router as job_router
from catalog.link.endpoints import router as link_router
from catalog.models import Base
from catalog.previews.endpoints import router as preview_router
from catalog.project.endpoints import router as project_router
from catalog.registry.endpoints import router as registry_router
from catalog.scope import cluster_scope_router
from catalog.settings import CatalogSettings
from catalog.snapshot.endpoints import router as snapshot_router
from catalog.stage.endpoints import router as stage_router
from catalog.stage.endpoints import service_stage_router, stage_scope_router
from catalog.variable.endpoints import router as variable_router
from catalog.variable.endpoints import variable_scope_router
from catalog.webhooks.endpoints import receivers as webhook_receivers
from catalog.webhooks.endpoints import router as webhook_router
from slipway.app import ServiceSpec, create_service_app


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    settings = settings or CatalogSettings()
    start, stop = hooks(settings)
    return create_service_app(
        ServiceSpec(
            settings=settings,
            metadata=Base.metadata,
            migrations_dir=Path(__file__).parent / "migrations",
            subscriptions=subscriptions(settings),
            routers=[
                cluster_router,
                cluster_defaults_router,
                registry_router,
                git_token_router,
                cluster_scope_router,
                project_router,
                environment_router,
                scope_router,
                stage_router,
                stage_scope_router,
                service_stage_router,
                container_router,
                service_scope_router,
                snapshot_router,
                application_router,
                job_router,
                database_router,
                custom_domain_router,
                link_router,
                variable_router,
                variable_scope_router,
                webhook_router,
                webhook_receivers,
                preview_router,
            ],
            # PUT …/cluster/{id}/kubeconfig takes the kubeconfig itself as YAML
            body_types=[(r"/kubeconfig$", {"application/x-yaml", "text/yaml", "application/yaml"})],
            on_startup=[start],
            on_shutdown=[stop],
        )
    )
