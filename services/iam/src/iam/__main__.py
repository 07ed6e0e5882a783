"""Run the iam service: `python -m iam`."""

from iam.settings import IamSettings
from slipway.app import serve

serve("iam.main:create_app", IamSettings())
