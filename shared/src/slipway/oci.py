"""The OCI distribution reference grammar for image names and tags (what an engine or registry will accept)."""

from __future__ import annotations

import re

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?/)"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"

# an optional registry host (with port), then lower-case path components separated by `/`
IMAGE_NAME_PATTERN = rf"^{_DOMAIN}?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$"
TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"

IMAGE_NAME = re.compile(IMAGE_NAME_PATTERN)
TAG = re.compile(TAG_PATTERN)
