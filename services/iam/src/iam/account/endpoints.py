"""Slipway's own sign-in endpoints (`/auth/*`, public) and Qovery's `/account`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, EmailStr, Field

from iam.account import service
from iam.account.keys import KeyRing
from iam.models import User
from iam.settings import IamSettings
from slipway.db import SessionDep
from slipway.errors import NotFound, SlipwayError, TooManyRequests, Unauthorized, error_response
from slipway.principal import Principal, PrincipalDep
from slipway.timeutil import rfc3339

router = APIRouter()


class SignupRequest(BaseModel):
    email: EmailStr
    password: str = Field(min_length=10, max_length=256)
    first_name: str | None = Field(default=None, max_length=255)
    last_name: str | None = Field(default=None, max_length=255)
    invitation_token: str | None = Field(default=None, max_length=256)


class LoginRequest(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str


class AccountInfo(BaseModel):
    id: str
    created_at: str
    nickname: str
    first_name: str
    last_name: str
    profile_picture_url: str
    communication_email: str


class AccountInfoEditRequest(BaseModel):
    communication_email: EmailStr


def _keys(request: Request) -> KeyRing:
    return request.app.state.keys  # type: ignore[no-any-return]


def _settings(request: Request) -> IamSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _tokens(s: service.Session) -> TokenResponse:
    return TokenResponse(access_token=s.access_token, expires_in=s.expires_in, refresh_token=s.refresh_token)


@router.post("/auth/signup", status_code=201, response_model=TokenResponse)
async def signup(body: SignupRequest, request: Request, session: SessionDep) -> TokenResponse:
    settings = _settings(request)
    user = await service.signup(
        session, settings, body.email, body.password, body.first_name, body.last_name, body.invitation_token
    )
    return _tokens(await service.open_session(session, settings, _keys(request), user))


@router.post("/auth/login", response_model=TokenResponse)
async def login(body: LoginRequest, request: Request, session: SessionDep) -> TokenResponse | JSONResponse:
    result = await service.login(session, _settings(request), _keys(request), body.email, body.password)
    return _answer(request, result)


def _answer(request: Request, result: service.Session | SlipwayError) -> TokenResponse | JSONResponse:
    """Errors are answered, not raised, so that what they recorded (counters, sign-outs) commits."""
    if isinstance(result, SlipwayError):
        headers = {"Retry-After": str(result.retry_after)} if isinstance(result, TooManyRequests) else None
        return error_response(result.status_code, result.detail, request.url.path, headers)
    return _tokens(result)


@router.post("/auth/refresh", response_model=TokenResponse)
async def refresh(body: RefreshRequest, request: Request, session: SessionDep) -> TokenResponse | JSONResponse:
    return _answer(request, await service.refresh(session, _settings(request), _keys(request), body.refresh_token))


@router.post("/auth/logout", status_code=204)
async def logout(body: RefreshRequest, session: SessionDep) -> None:
    await service.logout(session, body.refresh_token)


@router.get("/auth/jwks")
async def jwks(request: Request) -> dict[str, Any]:
    return _keys(request).jwks


async def _current_user(session: SessionDep, principal: Principal) -> User:
    if principal.user_id is None:
        raise Unauthorized("an account is required")
    user = await session.get(User, principal.user_id)
    if user is None:
        raise NotFound("account not found")
    return user


def _account(user: User) -> AccountInfo:
    return AccountInfo(
        id=str(user.id),
        created_at=rfc3339(user.created_at),
        nickname=user.nickname or user.email.split("@")[0],
        first_name=user.first_name or "",
        last_name=user.last_name or "",
        profile_picture_url="",
        communication_email=user.communication_email or user.email,
    )


@router.get("/account", response_model=AccountInfo)
async def get_account(principal: PrincipalDep, session: SessionDep) -> AccountInfo:
    return _account(await _current_user(session, principal))


@router.put("/account", response_model=AccountInfo)
async def edit_account(body: AccountInfoEditRequest, principal: PrincipalDep, session: SessionDep) -> AccountInfo:
    user = await _current_user(session, principal)
    user.communication_email = str(body.communication_email).lower()
    return _account(user)
