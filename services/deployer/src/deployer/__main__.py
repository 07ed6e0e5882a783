"""Run the deployer service: `python -m deployer`."""

from deployer.settings import DeployerSettings
from slipway.app import serve

serve("deployer.main:create_app", DeployerSettings())
