"""Event contracts: subjects and payload models shared by producers and consumers."""

from __future__ import annotations

import uuid

from pydantic import BaseModel


class Subjects:
    ACCOUNT_CREATED = "evt.iam.account.created"
    API_TOKEN_CREATED = "evt.iam.api_token.created"
    API_TOKEN_REVOKED = "evt.iam.api_token.revoked"


class AccountCreated(BaseModel):
    user_id: uuid.UUID
    email: str
    is_admin: bool


class ApiTokenCreated(BaseModel):
    token_id: uuid.UUID
    user_id: uuid.UUID
    organization_id: uuid.UUID | None
    name: str
    # never the secret: only its non-secret display prefix
    display_prefix: str


class ApiTokenRevoked(BaseModel):
    token_id: uuid.UUID
