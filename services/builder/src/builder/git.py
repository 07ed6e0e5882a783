"""Fetching one Git ref with the `git` CLI (no shell): auth through the environment, never in a URL or on disk."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
DEFAULT_HTTPS_USER = "x-access-token"  # GitHub's name for token auth; GitLab and Gitea accept any user name
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")


class GitError(Exception):
    """A clone/fetch/lookup failed; `message` is readable (but not yet masked: mask before showing it)."""

    def __init__(self, message: str, step: str = "clone") -> None:
        super().__init__(message)
        self.message = message
        self.step = step


def scheme(url: str) -> str:
    """https | http | ssh | file (scp-like `git@host:path` is ssh; a bare path is file)."""
    if _SCP_LIKE.match(url):
        return "ssh"
    parts = urlsplit(url)
    if parts.scheme in ("https", "http", "ssh", "file"):
        return parts.scheme
    if parts.scheme in ("git+ssh", "ssh+git"):
        return "ssh"
    if not parts.scheme and url.startswith("/"):
        return "file"
    return parts.scheme or "unknown"


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """(URL without user info, user, password) for http(s) URLs; other URLs come back unchanged."""
    if scheme(url) not in ("https", "http"):
        return url, None, None
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), user or None, password or None


def display_url(url: str) -> str:
    """The URL as it may be stored and logged: no user info."""
    return split_credentials(url)[0]


@dataclass
class GitAuth:
    """What `git` needs for one fetch: extra environment and the files written for it (in the work dir)."""

    env: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)  # values to mask in anything shown


def https_auth(token: str, user: str | None = None) -> GitAuth:
    """Token auth as an `http.extraHeader` given through GIT_CONFIG_* variables: not in argv, not on disk."""
    basic = base64.b64encode(f"{user or DEFAULT_HTTPS_USER}:{token}".encode()).decode()
    return GitAuth(
        env={
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        },
        secrets=[token, basic],
    )


def ssh_auth(private_key: str, workdir: Path) -> GitAuth:
    """A key file (0600, inside the work dir removed after the build) and a known_hosts of our own."""
    key_file = workdir / "ssh_key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(private_key if private_key.endswith("\n") else private_key + "\n")
    known_hosts = workdir / "known_hosts"
    command = [
        "ssh",
        "-i",
        str(key_file),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=20",
    ]
    return GitAuth(env={"GIT_SSH_COMMAND": shlex.join(command)}, secrets=[private_key.strip()])


def base_env(home: Path, allow_file: bool) -> dict[str, str]:
    """A clean environment: no host gitconfig, credential helpers or prompts; only the allowed transports."""
    return {
        "PATH": SAFE_PATH,
        "HOME": str(home),
        "LC_ALL": "C",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "true",
        "SSH_ASKPASS": "true",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_ALLOW_PROTOCOL": "https:http:ssh" + (":file" if allow_file else ""),
    }


def fetch_argv(git: str, repo: Path, url: str, ref: str, *, shallow: bool) -> list[str]:
    argv = [git, "-C", str(repo), "fetch", "--quiet", "--no-tags"]
    if shallow:
        argv += ["--depth", "1"]
    return [*argv, url, ref]


@dataclass
class Checkout:
    """A fetched commit in a bare repository inside `workdir`."""

    git: str
    repo: Path
    env: dict[str, str]
    commit: str

    def _spec(self, path: str) -> str:
        path = path.strip("/")
        return f"{self.commit}:{path}" if path else f"{self.commit}^{{tree}}"

    async def tree(self, root_path: str) -> str:
        """The Git object id of `root_path` at the commit (what the content hash is made of)."""
        code, out, _ = await run_git([self.git, "-C", str(self.repo), "rev-parse", "--verify", "--quiet",
                                      self._spec(root_path)], self.env)  # fmt: skip
        if code != 0:
            raise GitError(f"root path {root_path!r} does not exist at commit {self.commit}", step="source")
        return out.strip()

    async def has_file(self, path: str) -> bool:
        code, _, _ = await run_git([self.git, "-C", str(self.repo), "cat-file", "-e", self._spec(path)], self.env)
        return code == 0

    async def archive(self, root_path: str, dest: Path) -> Path:
        """A tar of `root_path` at the commit: the build context."""
        code, _, err = await run_git(
            [self.git, "-C", str(self.repo), "archive", "--format=tar", "-o", str(dest), self._spec(root_path)],
            self.env,
        )
        if code != 0:
            raise GitError(f"could not archive {root_path!r}: {last_line(err)}", step="source")
        return dest


async def run_git(argv: Sequence[str], env: dict[str, str], *, cwd: Path | None = None) -> tuple[int, str, str]:
    """Run one git command; the process is killed if the caller is cancelled or times out."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    useful = [line for line in lines if line.startswith(("fatal:", "error:", "ERROR:"))] or lines
    return useful[0].removeprefix("fatal: ") if useful else "no output"


def auth_for(url: str, token: str | None, ssh_key: str | None, workdir: Path) -> tuple[str, GitAuth]:
    """The URL to fetch (credentials removed) and the auth for it."""
    kind = scheme(url)
    clean, user, password = split_credentials(url)
    if kind in ("https", "http") and (token or password):
        return clean, https_auth(token or password or "", user)
    if kind == "ssh" and ssh_key:
        return clean, ssh_auth(ssh_key, workdir)
    return clean, GitAuth()


async def fetch(
    url: str,
    workdir: Path,
    *,
    commit: str | None,
    branch: str | None,
    token: str | None = None,
    ssh_key: str | None = None,
    git: str = "git",
    allow_file: bool = True,
) -> Checkout:
    """Fetch `commit` (or the head of `branch`, or of the default branch) into a bare repo under `workdir`."""
    kind = scheme(url)
    if kind not in ("https", "http", "ssh", "file") or (kind == "file" and not allow_file):
        raise GitError(f"unsupported Git URL scheme {kind!r} (use https://, ssh:// or git@host:path)")
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    repo = workdir / "repo.git"
    clean, auth = auth_for(url, token, ssh_key, workdir)
    env = {**base_env(home, allow_file), **auth.env}
    code, _, err = await run_git([git, "init", "--quiet", "--bare", str(repo)], env)
    if code != 0:
        raise GitError(f"git init failed: {last_line(err)}")
    shown = display_url(url)
    if commit:
        code, _, err = await run_git(fetch_argv(git, repo, clean, commit, shallow=True), env)
        if code != 0 and not _unreachable(err):
            # servers that refuse a want by SHA (or a short SHA): fetch the branches and look it up
            refspec = f"+refs/heads/{branch}:refs/heads/{branch}" if branch else "+refs/heads/*:refs/heads/*"
            code, _, err = await run_git(fetch_argv(git, repo, clean, refspec, shallow=False), env)
            if code == 0:
                found, sha, _ = await run_git([git, "-C", str(repo), "rev-parse", "--verify", "--quiet",
                                               f"{commit}^{{commit}}"], env)  # fmt: skip
                if found != 0:
                    raise GitError(f"commit {commit} not found in {shown}")
                return Checkout(git, repo, env, sha.strip())
        if code != 0:
            raise GitError(_fetch_error(shown, commit, err))
    else:
        ref = f"refs/heads/{branch}" if branch else "HEAD"
        code, _, err = await run_git(fetch_argv(git, repo, clean, ref, shallow=True), env)
        if code != 0:
            raise GitError(_fetch_error(shown, branch and f"branch {branch}", err))
    code, sha, err = await run_git([git, "-C", str(repo), "rev-parse", "--verify", "FETCH_HEAD^{commit}"], env)
    if code != 0:
        raise GitError(f"could not resolve the fetched commit: {last_line(err)}")
    resolved = sha.strip()
    if commit and _SHA.match(commit) and resolved != commit:
        raise GitError(f"commit {commit} not found in {shown}")
    return Checkout(git, repo, env, resolved)


def _unreachable(stderr: str) -> bool:
    text = stderr.lower()
    return (
        any(
            marker in text
            for marker in (
                "could not read from remote",
                "does not appear to be a git repository",
                "repository not found",
                "could not resolve host",
                "authentication failed",
                "connection refused",
                "unable to access",
                "not found",
                "transport '",
            )
        )
        and "not our ref" not in text
    )


def _fetch_error(shown: str, what: str | None, stderr: str) -> str:
    reason = last_line(stderr)
    if "couldn't find remote ref" in stderr.lower() or "not our ref" in stderr.lower():
        return f"{what or 'the default branch'} not found in {shown}"
    return f"could not fetch {what or 'the default branch'} from {shown}: {reason}"
