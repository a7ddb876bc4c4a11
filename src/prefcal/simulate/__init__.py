"""The simulated population (STUDY.md section 5): a catalogue, users with known preferences, and
their organic listening written as real Spotify export files, plus a ground-truth sidecar.

Modules:

* :mod:`~prefcal.simulate.model` - the user model (content-type preference in context, taste fit,
  daily rhythm, habit) as a vectorised API that the Home-page environment and validation use;
* :mod:`~prefcal.simulate.catalogue` - genres, artists, albums, tracks, shows, episodes, audiobooks;
* :mod:`~prefcal.simulate.users` - the draws of one user (parameters, favourites, playlists, PII);
* :mod:`~prefcal.simulate.listening` - sessions and plays with skips and reason chains;
* :mod:`~prefcal.simulate.exports` / :mod:`~prefcal.simulate.writers` - the export files;
* :mod:`~prefcal.simulate.truth` - the truth sidecar;
* :mod:`~prefcal.simulate.runner` / :mod:`~prefcal.simulate.cli` - shards and ``prefcal simulate``.

Every draw comes from ``numpy.random.default_rng(SeedSequence([seed, stream, u]))`` (stream 0 the
catalogue, 1-3 per user), so the output is byte-identical for the same config and independent of
the number of shards.
"""
