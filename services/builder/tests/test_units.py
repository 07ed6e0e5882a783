"""Unit tests: Git auth/command construction (https token, ssh key), progress parsing, hashing, names."""

from __future__ import annotations

import base64
import os
import shlex
import stat
from pathlib import Path

import pytest

from builder import git, registry
from builder.builds.schemas import BuildRequest
from builder.builds.service import content_hash, image_tag, source_key
from builder.progress import Progress, error_of
from slipway.desired import RegistryRef


def test_https_token_goes_in_an_environment_header_never_in_the_url(tmp_path: Path) -> None:
    url, auth = git.auth_for("https://github.com/acme/app.git", "ghp_secret", None, tmp_path)
    assert url == "https://github.com/acme/app.git"
    assert auth.env["GIT_CONFIG_COUNT"] == "1" and auth.env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
    header = auth.env["GIT_CONFIG_VALUE_0"]
    assert header.startswith("Authorization: Basic ")
    assert base64.b64decode(header.split()[-1]).decode() == "x-access-token:ghp_secret"
    assert "ghp_secret" in auth.secrets and header.split()[-1] in auth.secrets
    assert list(tmp_path.iterdir()) == []  # nothing written to disk
    argv = git.fetch_argv("git", tmp_path / "repo.git", url, "a" * 40, shallow=True)
    assert argv[-2:] == [url, "a" * 40] and "--depth" in argv
    assert not any("ghp_secret" in part for part in argv)


def test_credentials_in_the_url_are_moved_out_of_it(tmp_path: Path) -> None:
    url, auth = git.auth_for("https://oauth2:glpat-xyz@gitlab.example.com/g/p.git", None, None, tmp_path)
    assert url == "https://gitlab.example.com/g/p.git"
    assert base64.b64decode(auth.env["GIT_CONFIG_VALUE_0"].split()[-1]).decode() == "oauth2:glpat-xyz"
    assert git.display_url("https://u:p@h.example/r.git") == "https://h.example/r.git"


def test_ssh_key_file_and_command(tmp_path: Path) -> None:
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----"
    url, auth = git.auth_for("git@github.com:acme/app.git", None, key, tmp_path)
    assert url == "git@github.com:acme/app.git" and git.scheme(url) == "ssh"
    key_file = tmp_path / "ssh_key"
    assert key_file.read_text() == key + "\n"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    command = shlex.split(auth.env["GIT_SSH_COMMAND"])
    assert command[:3] == ["ssh", "-i", str(key_file)]
    assert "StrictHostKeyChecking=accept-new" in command and "BatchMode=yes" in command
    assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in command
    assert key not in auth.env["GIT_SSH_COMMAND"]


def test_clean_environment_and_allowed_transports(tmp_path: Path) -> None:
    env = git.base_env(tmp_path, allow_file=False)
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_CONFIG_NOSYSTEM"] == "1" and env["HOME"] == str(tmp_path)
    assert env["GIT_ALLOW_PROTOCOL"] == "https:http:ssh"
    assert "file" in git.base_env(tmp_path, allow_file=True)["GIT_ALLOW_PROTOCOL"]


async def test_unreachable_https_with_token_fails_readably_without_the_token(tmp_path: Path) -> None:
    with pytest.raises(git.GitError) as failed:
        await git.fetch("https://127.0.0.1:1/acme/app.git", tmp_path, commit=None, branch="main", token="tok-123456")
    assert failed.value.step == "clone"
    assert "could not fetch branch main from https://127.0.0.1:1/acme/app.git" in failed.value.message
    assert "tok-123456" not in failed.value.message


async def test_file_urls_can_be_refused(tmp_path: Path) -> None:
    with pytest.raises(git.GitError, match="unsupported Git URL scheme 'file'"):
        await git.fetch("file:///srv/repo", tmp_path, commit=None, branch=None, allow_file=False)


def test_progress_tracks_steps_layers_and_errors() -> None:
    progress = Progress()
    assert progress.feed({"stream": "STEP 1/3: FROM base\n"}) == ["STEP 1/3: FROM base"]
    progress.feed({"stream": "--> 1802b482e01\nSTEP 2/3: RUN make\n"})
    progress.feed({"stream": "make: *** error\n"})
    assert progress.step == "STEP 2/3: RUN make" and progress.layers == ["1802b482e01"]
    progress.feed({"stream": "Step 3/3 : RUN docker-style\n"})
    progress.feed({"stream": " ---> Using cache 0123456789ab\n"})
    assert progress.step == "Step 3/3 : RUN docker-style" and progress.layers[-1] == "0123456789ab"
    progress.feed({"aux": {"ID": "sha256:abc"}})
    assert progress.image_id == "sha256:abc"
    assert error_of({"errorDetail": {"message": "exit status 3"}, "error": "x"}) == "exit status 3"
    assert error_of({"stream": "ok"}) is None
    assert Progress().feed({"status": "Pushing", "id": "abc", "progress": "[==> ]"}) == ["abc: Pushing [==> ]"]


def test_content_hash_depends_on_tree_dockerfile_and_sorted_args() -> None:
    one = content_hash("tree1", "Dockerfile", {"A": "1", "B": "2"})
    assert one == content_hash("tree1", "Dockerfile", {"B": "2", "A": "1"})
    assert one != content_hash("tree2", "Dockerfile", {"A": "1", "B": "2"})
    assert one != content_hash("tree1", "other/Dockerfile", {"A": "1", "B": "2"})
    assert one != content_hash("tree1", "Dockerfile", {"A": "1", "B": "3"})
    assert len(image_tag(one)) == 16


def _request(**git_fields: object) -> BuildRequest:
    return BuildRequest.model_validate(
        {
            "deployment_id": "e-1",
            "organization_id": "o",
            "project_id": "p",
            "environment_id": "e",
            "service_id": "s",
            "service_name": "app",
            "git": {"url": "https://h.example/r.git", **git_fields},
            "build_args": {"TOKEN": "secret-value"},
            "secret_values": ["secret-value"],
            "image_repository": "localhost/slipway/s",
            "registry": {"id": "r", "url": "r.example", "kind": "ECR", "username": "u", "password": "pw-xyz"},
        }
    )


def test_request_normalises_paths_and_lists_its_secrets() -> None:
    request = _request(root_path="/svc/api/", dockerfile_path="./docker/Dockerfile", token="ghp_t", commit="ABCDEF12")
    assert request.git.root_path == "svc/api" and request.git.dockerfile_path == "docker/Dockerfile"
    assert request.git.commit == "abcdef12"
    assert set(request.secrets()) == {"secret-value", "ghp_t", "pw-xyz"}
    assert source_key("k", request) is None  # a short SHA is not a stable key
    full = _request(commit="a" * 40)
    key = source_key("k", full)
    assert key is not None and "secret-value" not in key and key != source_key("other-key", full)


def test_registry_names() -> None:
    ref = RegistryRef(id="r", url="127.0.0.1:5000", kind="GENERIC_CR")
    assert registry.pushed_repository(ref, "localhost/slipway/s1") == "127.0.0.1:5000/slipway/s1"
    prefixed = RegistryRef(id="r", url="https://registry.example.com/team", kind="GENERIC_CR")
    assert registry.pushed_repository(prefixed, "localhost/slipway/s1") == "registry.example.com/team/slipway/s1"
    assert registry.base_url(ref, set()) == "http://127.0.0.1:5000"
    assert registry.base_url(RegistryRef(id="r", url="reg.example:5000", kind="x"), set()) == "https://reg.example:5000"
    assert (
        registry.base_url(RegistryRef(id="r", url="reg.lan:5000", kind="x"), {"reg.lan:5000"}) == "http://reg.lan:5000"
    )
