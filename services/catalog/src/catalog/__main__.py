"""Run the catalog service: `python -m catalog`."""

from catalog.settings import CatalogSettings
from slipway.app import serve

serve("catalog.main:create_app", CatalogSettings())
