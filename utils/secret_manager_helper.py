"""Secret Manager adapter. Secret values are returned to the caller and never logged here."""

from __future__ import annotations

import contextlib
import functools

from google.api_core.exceptions import Conflict
from google.cloud import secretmanager

from utils.gcp import emulator_kwargs


@functools.cache
def client() -> secretmanager.SecretManagerServiceClient:
    return secretmanager.SecretManagerServiceClient(
        **emulator_kwargs("SECRET_MANAGER_EMULATOR_HOST", rest_endpoint=True)
    )


def secret_path(project: str, secret: str) -> str:
    """Accept a bare secret id or a full `projects/<p>/secrets/<id>` name."""
    return secret if secret.startswith("projects/") else f"projects/{project}/secrets/{secret}"


def access_secret(project: str, secret: str, version: str = "latest") -> str:
    return access_secret_version(project, secret, version)[0]


def access_secret_version(project: str, secret: str, version: str = "latest") -> tuple[str, str]:
    """(value, resource name of the version read), e.g. to destroy it once superseded."""
    name = f"{secret_path(project, secret)}/versions/{version}"
    response = client().access_secret_version(name=name)
    return response.payload.data.decode("utf-8"), response.name


def destroy_secret_version(version_name: str) -> None:
    """Destroy a superseded version (stops its billing and makes its value unreadable)."""
    client().destroy_secret_version(name=version_name)


def add_secret_version(project: str, secret: str, value: str) -> str:
    """Store `value` as the new latest version; returns the version's resource name."""
    version = client().add_secret_version(
        parent=secret_path(project, secret), payload={"data": value.encode("utf-8")}
    )
    return version.name


def create_secret(project: str, secret: str) -> None:
    """Create an empty secret (no version); a no-op when it exists."""
    # ALREADY_EXISTS is AlreadyExists over gRPC but a plain 409 Conflict over REST.
    with contextlib.suppress(Conflict):
        client().create_secret(
            parent=f"projects/{project}", secret_id=secret,
            secret={"replication": {"automatic": {}}},
        )
