"""Run the gateway: `python -m gateway`."""

from gateway.settings import GatewaySettings
from slipway.app import serve

serve("gateway.main:create_app", GatewaySettings())
