"""Credentials an organization keeps in the catalog (Git tokens), encrypted at rest."""

from __future__ import annotations
