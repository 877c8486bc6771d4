"""Client construction shared by the helpers: production defaults, or the local stack when told.

Production uses Application Default Credentials. When an emulator variable is set the clients get
anonymous credentials and, for the Secret Manager stand-in (reached over REST: Google ships no
emulator for it), the REST transport and endpoint.
"""

from __future__ import annotations

import os
from typing import Any


def emulator_kwargs(env_var: str, rest_endpoint: bool = False) -> dict[str, Any]:
    """Keyword arguments for an official client when `env_var` points at a local emulator."""
    host = os.environ.get(env_var)
    if not host:
        return {}
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    kwargs: dict[str, Any] = {"credentials": AnonymousCredentials()}
    if rest_endpoint:
        kwargs |= {"transport": "rest", "client_options": ClientOptions(api_endpoint=host)}
    return kwargs
