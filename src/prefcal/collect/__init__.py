"""Collect a consenting participant's listening from the Spotify Web API (measurement only).

**Measurement only.** Spotify's Developer Terms forbid using Spotify content obtained through the
API to train machine-learning or AI models. This package only *measures*: it records what was
played, from which context (a Spotify-made playlist or not), and snapshots of top items, playlists
and saved items, for the descriptive analysis of STUDY section 7. Nothing here, and nothing
downstream of its store, may fit a model on that content.

What the 2026 API allows a development-mode app (STUDY section 3): at most 5 users, who must be
added in the dashboard; ``GET /me/player/recently-played`` (the last 50 plays, music only, with
``context.uri``), ``/me/top/{artists,tracks}``, ``/me/playlists`` and ``/playlists/{id}/items`` (own
or collaborative playlists only), saved tracks/shows/episodes.

Command line (``prefcal collect --help``)::

    export SPOTIFY_CLIENT_ID=...          # the app's client id (PKCE: no secret)
    prefcal collect login                 # browser login, token cached 0600 in the config dir
    prefcal collect poll --every 30m      # poll recently-played until interrupted
    prefcal collect snapshot              # top items, playlists and their items, saved items
    prefcal collect status                # counts and cursor; never prints a token

Modules: :mod:`~prefcal.collect.auth` (PKCE login, token cache), :mod:`~prefcal.collect.client`
(spotipy with our own 429 handling), :mod:`~prefcal.collect.store` (append-only JSON Lines store,
``read_plays``), :mod:`~prefcal.collect.poll`, :mod:`~prefcal.collect.snapshots`,
:mod:`~prefcal.collect.contexts` (Spotify-made vs user playlist), :mod:`~prefcal.collect.redact`
and :mod:`~prefcal.collect.errors` (secrets never reach logs, errors or the store),
:mod:`~prefcal.collect.cli`.
"""
