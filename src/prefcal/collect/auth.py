"""Log in with Authorization Code + PKCE and keep the token in a private cache file.

* Flow: spotipy's :class:`spotipy.oauth2.SpotifyPKCE` (no client secret), redirect URI
  ``http://127.0.0.1:PORT`` (default port :data:`DEFAULT_PORT`; register exactly this URI in the
  app's dashboard), scopes :data:`SCOPES`.
* Client id: the environment variable ``SPOTIFY_CLIENT_ID`` (:func:`client_id_from_env`).
* Token cache: ``<config dir>/spotify_token.json`` where the config dir is
  ``$PREFCAL_CONFIG_DIR`` if set, else ``$XDG_CONFIG_HOME/prefcal`` if set, else
  ``platformdirs.user_config_dir("prefcal")``.
  The directory is created with mode 0700 and the file is written through ``os.open(..., 0o600)``
  and an atomic rename, so it is never readable by other users, not even for an instant.
* Refresh tokens are single use: spotipy's refresh stores the whole token response, so the rotated
  ``refresh_token`` it contains replaces the old one in the cache (only when the response has no
  refresh token is the old one kept, as the OAuth spec allows).
* Every token, code and verifier is registered with :mod:`prefcal.collect.redact` as soon as it
  exists, so it cannot reach a log line or an error message.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from spotipy.cache_handler import CacheHandler
from spotipy.exceptions import SpotifyOauthError
from spotipy.oauth2 import SpotifyPKCE

from prefcal.collect.errors import AuthError, MissingClientId, NotLoggedIn, redacted_errors
from prefcal.collect.redact import get_logger, register_secret, register_token_info

log = get_logger(__name__)

CLIENT_ID_ENV = "SPOTIFY_CLIENT_ID"
CONFIG_DIR_ENV = "PREFCAL_CONFIG_DIR"
DEFAULT_PORT = 8888
TOKEN_CACHE_NAME = "spotify_token.json"

#: recently played, top items, own (and collaborative) playlists, saved tracks/shows/episodes
SCOPES = (
    "user-read-recently-played",
    "user-top-read",
    "playlist-read-private",
    "playlist-read-collaborative",
    "user-library-read",
    "user-read-playback-position",  # required by GET /me/episodes
)


def config_dir() -> Path:
    """Directory of the token cache (see the module docstring for the order of precedence)."""
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg:
        return Path(xdg).expanduser() / "prefcal"
    try:
        import platformdirs
    except ImportError:  # pragma: no cover - platformdirs is pinned in requirements.txt
        return Path.home() / ".config" / "prefcal"
    return Path(platformdirs.user_config_dir("prefcal"))


def token_cache_path() -> Path:
    """``config_dir() / "spotify_token.json"``."""
    return config_dir() / TOKEN_CACHE_NAME


def client_id_from_env() -> str:
    """The app's client id from ``SPOTIFY_CLIENT_ID``; a one-line error when it is missing."""
    value = os.environ.get(CLIENT_ID_ENV, "").strip()
    if not value:
        raise MissingClientId(
            f"{CLIENT_ID_ENV} is not set: create an app at "
            "https://developer.spotify.com/dashboard, "
            f"add the redirect URI http://127.0.0.1:{DEFAULT_PORT} and export its client id"
        )
    register_secret(value)
    return value


def redirect_uri(port: int = DEFAULT_PORT) -> str:
    """The loopback redirect URI Spotify requires for local apps (``http://127.0.0.1:PORT``)."""
    port = int(port)
    if not 1 <= port <= 65535:
        raise ValueError(f"--port must be between 1 and 65535, got {port}")
    return f"http://127.0.0.1:{port}"


def write_private_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` as JSON to ``path`` with mode 0600, atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # in case the temp file existed with wider permissions
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(dict(payload), fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


class TokenCache(CacheHandler):
    """spotipy cache handler that keeps the token in a 0600 JSON file.

    ``save_token_to_cache`` replaces the whole entry, so a rotated refresh token overwrites the
    previous (now invalid) one.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else token_cache_path()

    def get_cached_token(self) -> dict[str, Any] | None:
        """The cached token entry, or None when there is none; tightens loose permissions."""
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            return None
        if mode & 0o077:
            log.warning("token cache %s had mode %o; set to 600", self.path, mode)
            os.chmod(self.path, 0o600)
        try:
            token_info = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise NotLoggedIn(
                f"token cache {self.path} is unreadable ({type(exc).__name__}); "
                "run `prefcal collect login` again"
            ) from None
        register_token_info(token_info)
        return token_info

    def save_token_to_cache(self, token_info: dict[str, Any]) -> None:
        """Store ``token_info`` (registering its secrets first)."""
        register_token_info(token_info)
        write_private_json(self.path, token_info)
        log.info("token cache updated: %s", self.path)


class CollectorPKCE(SpotifyPKCE):
    """``SpotifyPKCE`` that registers its secrets and never prompts unless ``interactive``.

    spotipy falls back to an interactive login whenever the cache has no valid token; the
    collector's ``poll`` and ``snapshot`` must fail with :class:`NotLoggedIn` instead.
    """

    def __init__(self, *args: Any, interactive: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.interactive = interactive

    def get_pkce_handshake_parameters(self) -> None:
        super().get_pkce_handshake_parameters()
        register_secret(self.code_verifier)

    def get_authorization_code(self, response: str | None = None) -> str:
        if response is None and not self.interactive:
            raise NotLoggedIn(
                f"no valid Spotify token in {getattr(self.cache_handler, 'path', 'the cache')} "
                "(or it lacks a scope); run `prefcal collect login` first"
            )
        code = super().get_authorization_code(response)
        register_secret(code)
        return code


def make_auth_manager(
    client_id: str,
    *,
    port: int = DEFAULT_PORT,
    cache: TokenCache | None = None,
    interactive: bool = False,
    open_browser: bool = True,
    state: str | None = None,
) -> CollectorPKCE:
    """A PKCE auth manager for :data:`SCOPES` on ``http://127.0.0.1:port`` using ``cache``."""
    register_secret(client_id)
    return CollectorPKCE(
        client_id=client_id,
        redirect_uri=redirect_uri(port),
        scope=list(SCOPES),
        state=state,
        cache_handler=cache if cache is not None else TokenCache(),
        open_browser=open_browser,
        requests_timeout=30,
        interactive=interactive,
    )


def new_state() -> str:
    """A random ``state`` for one login attempt (checked against the redirect)."""
    return secrets.token_urlsafe(16)


def _check_redirect(url: str, expected_state: str) -> None:
    query = parse_qs(urlparse(url).query)
    if query.get("state", [None])[0] != expected_state:
        raise AuthError("the redirect URL's state does not match this login attempt")
    error = query.get("error", [None])[0]
    if error:
        raise AuthError(f"Spotify refused the authorization: {error}")
    if not query.get("code"):
        raise AuthError("the redirect URL has no authorization code")


def login(
    client_id: str,
    *,
    port: int = DEFAULT_PORT,
    cache: TokenCache | None = None,
    open_browser: bool = True,
    redirect_response: str | None = None,
) -> Path:
    """Run the PKCE login and store the token; return the cache path.

    Without ``redirect_response`` spotipy opens the browser and catches the redirect on
    ``127.0.0.1:port`` (or, with ``open_browser=False``, prints the URL and asks for the address
    the browser was sent to). ``redirect_response`` is that address, given directly (headless use
    and tests).
    """
    cache = cache if cache is not None else TokenCache()
    state = new_state()
    auth = make_auth_manager(
        client_id, port=port, cache=cache, interactive=True, open_browser=open_browser, state=state
    )
    with redacted_errors("login"):
        auth.get_pkce_handshake_parameters()
        if redirect_response is not None:
            _check_redirect(redirect_response, state)
        try:
            code = auth.get_authorization_code(redirect_response)
            auth.get_access_token(code=code, check_cache=False)
        except SpotifyOauthError as exc:
            raise AuthError(f"login failed: {getattr(exc, 'error', None) or exc}") from None
    if cache.get_cached_token() is None:
        raise AuthError("login finished but no token was stored")
    return cache.path
