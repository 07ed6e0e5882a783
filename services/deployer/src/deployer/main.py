"""deployer application factory: the action API, the queue worker, the cron scheduler, catalog's delete events."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from fastapi import FastAPI

from deployer import repository
from deployer.buildwatch import BuildWatch
from deployer.clients import Builder, Catalog
from deployer.cronruns import CronRuns
from deployer.deployment.endpoints import router as deployments
from deployer.drivers import Drivers
from deployer.events import subscriptions
from deployer.history.endpoints import router as history
from deployer.models import Base
from deployer.runner import Runner
from deployer.runtime.base import RuntimeDriver
from deployer.scheduler import Scheduler
from deployer.settings import DeployerSettings
from deployer.status.endpoints import router as statuses
from deployer.store import Store
from deployer.tails import Tails
from deployer.worker import Worker
from slipway.app import ServiceSpec, create_service_app
from slipway.tasks import cancel_and_wait


def create_app(settings: DeployerSettings | None = None) -> FastAPI:
    settings = settings or DeployerSettings()
    drivers = Drivers(settings)
    workers: list[Worker] = []  # the running queue worker, poked when catalog's deletions queue an uninstall

    def poke() -> None:
        for worker in workers:
            worker.poke()

    async def start(app: FastAPI) -> None:
        key = settings.internal_auth_key.get_secret_value()
        app.state.catalog = Catalog(app.state.http, settings.catalog_url, key)
        app.state.builder = Builder(app.state.http, settings.builder_url, key)
        app.state.drivers = drivers
        drivers.connection = app.state.catalog.cluster_connection
        app.state.builds = BuildWatch(app.state.nats)
        await app.state.builds.start()
        runner = Runner(
            Store(app.state.db),
            app.state.catalog,
            app.state.builder,
            drivers.for_state,
            app.state.nats,
            build_poll_seconds=settings.build_poll_seconds,
            uninstall_retry_seconds=settings.uninstall_retry_seconds,
            builds=app.state.builds,
        )
        app.state.runner = runner
        app.state.worker = Worker(
            app.state.db,
            runner.run,
            max_parallel=settings.max_parallel_deployments,
            lease_seconds=settings.lease_seconds,
            poll_seconds=settings.poll_seconds,
        )
        app.state.scheduler = Scheduler(app.state.db, app.state.worker.poke, tick_seconds=settings.cron_tick_seconds)
        workers[:] = [app.state.worker]
        routable: set[str] | None = None
        try:
            async with app.state.db.transaction() as session:
                routable = await repository.routable_services(session)
        except Exception as exc:  # noqa: BLE001 - nothing is pruned then; routes are re-applied anyway
            logging.getLogger("deployer").warning("service states unreadable: no stale route pruned: %s", exc)
        await drivers.adopt_local(routable)
        await app.state.worker.start()
        await app.state.scheduler.start()
        catalog = app.state.catalog

        async def secrets(environment_id: str, service_id: str) -> list[str]:
            spec = (await catalog.desired_state(environment_id)).service(service_id)
            if spec is None:
                return []
            return [v for k, v in spec.env.items() if k in spec.secret_keys] + [
                f.content for f in spec.files if f.is_secret
            ]

        async def driver_of(environment_id: str) -> RuntimeDriver:
            return await drivers.for_environment(environment_id, catalog.environment_scope)

        cron_runs = CronRuns(app.state.db, Store(app.state.db), app.state.nats, catalog.desired_state)

        async def drift() -> None:
            """Kubernetes: adopt the clusters in use once, then correct drift and record the CronJobs' runs
            every few seconds."""
            try:
                async with app.state.db.transaction() as session:
                    environments = await repository.live_environments(session)
                await drivers.warm_kubernetes(environments, catalog.environment_scope)
            except Exception as exc:  # noqa: BLE001 - the clusters are then found at their next deploy
                logging.getLogger("deployer.drift").warning("clusters in use not adopted: %s", exc)
            while settings.kubernetes_reconcile_seconds > 0:
                await asyncio.sleep(settings.kubernetes_reconcile_seconds)
                await drivers.reconcile_kubernetes()
                try:
                    await cron_runs.record(drivers.kubernetes())
                except Exception as exc:  # noqa: BLE001 - the database may be briefly away: next pass
                    logging.getLogger("deployer.cronruns").warning("cron runs not recorded: %s", exc)

        app.state.drift = asyncio.create_task(drift())
        app.state.tails = Tails(app.state.nats, driver_of, idle_seconds=settings.tail_idle_seconds, secrets=secrets)
        await app.state.tails.start()

    async def stop(app: FastAPI) -> None:
        await cancel_and_wait(app.state.drift)
        await app.state.tails.stop()
        await app.state.builds.stop()
        await app.state.scheduler.stop()
        await app.state.worker.stop()
        await drivers.close()

    return create_service_app(
        ServiceSpec(
            settings=settings,
            metadata=Base.metadata,
            migrations_dir=Path(__file__).parent / "migrations",
            routers=[deployments, statuses, history],
            subscriptions=subscriptions(drivers, poke),
            on_startup=[start],
            on_shutdown=[stop],
        )
    )
