"""Stage 01, data overview: what the canonical ``streams`` tables hold, and the Figure 1 analogue.

Modules (everything public is re-exported here): ``summary`` (per-shard aggregation),
``ingest_report`` (the ingest's counts), ``table`` (the overview table), ``cohorts``, ``by_hour``
(the Figure 1 analogue), ``macros`` (numbers for the paper), ``standalone`` (a notebook run by
hand).

:func:`summarise_streams` reads each shard's
``streams.parquet`` in record batches (only the six columns it needs), reduces every batch to
small aggregates (counts, the set of participants, first/last time, per user x hour counts of plays
>= 30 s) and adds the aggregates up. Memory is bounded by one record batch (and the Parquet row
group it comes from) plus the number of users x 24: it does not grow with the number of plays.

Definitions (``min_ms_played`` is ``config["ingest"]["min_ms_played"]``, 30 000 ms):

* a **stream** is one row of ``streams``; a **play** is a stream with ``ms_played >= min_ms_played``
  (Spotify's own threshold for a counted stream);
* **share of plays** among streams: ``n_plays / n_streams``;
* **content-type share** of type c: ``#plays of type c / n_plays`` (device shares likewise);
  source-format shares are over all streams, because the ingest keeps every row of every format;
* **play time** of a stream: ``t_play`` of :func:`prefcal.tables.play_time`, its ``ts_start``
  except for an offline play with an ``offline_ts``, whose ``ts`` is the later sync time: then
  ``min(offline_ts, ts_start)``. Tables without the optional ``offline``/``offline_ts`` columns
  use ``ts_start``;
* **date span**: the calendar dates (in ``tz``, UTC by default: exports carry UTC and no time
  zone) of the earliest and latest play time; days spanned = last - first + 1;
* **hour of day** of a play: the hour of its play time in ``tz``;
* **user podcast share**: ``s_u = #podcast plays of u / #plays of u of a known content type``
  (legacy account data say nothing of the type: their ``unknown`` plays are left out of the shares
  by user, cohort and hour; users with fewer than ``min_plays`` such plays have no share and no
  cohort);
* **cohorts** (:func:`assign_cohorts`): users ranked by ``s_u`` (ties broken by participant id)
  and cut into three groups of equal size (sizes differ by at most one): ``music-first`` (lowest
  third), ``mixed``, ``podcast-leaning`` (highest third). The cohorts use the data only: no
  simulator truth;
* **podcast share by hour** of cohort C (Figure 1 analogue, after Feijer et al. 2025, Fig. 1):
  ``S_C(h) = sum_{u in C} podcast_plays_u(h) / sum_{u in C} plays_u(h)``, the share of the cohort's
  plays (of a known type) at hour h that are podcasts (plays are pooled, so heavy listeners weigh
  more);
* **bootstrap band**: users of the cohort are resampled with replacement ``n_boot`` times and
  ``S_C(h)`` recomputed; the band is the percentile interval at level ``ci``. Each cohort and
  purpose draws from its own ``numpy.random.Generator`` derived from ``seed``
  (``SeedSequence(seed, spawn_key=(crc32(purpose), cohort index))``).
"""

from prefcal.overview.by_hour import (
    DEFAULT_PERIODS,
    bootstrap_ratio,
    period_contrast,
    plot_podcast_share_by_hour,
    podcast_share_by_hour,
)
from prefcal.overview.cohorts import COHORTS, assign_cohorts, cohort_summary, user_podcast_shares
from prefcal.overview.ingest_report import (
    FILE_STATUSES,
    IngestTotals,
    check_consistency,
    read_ingest_reports,
)
from prefcal.overview.macros import DATA_SOURCE_WORDS, overview_macros
from prefcal.overview.standalone import ensure_standalone_data, find_repo_root, output_paths
from prefcal.overview.summary import (
    OPTIONAL_COLUMNS,
    OVERVIEW_COLUMNS,
    StreamSummary,
    combine_summaries,
    shard_paths,
    summarise_streams,
)
from prefcal.overview.table import overview_latex_frame, overview_table

__all__ = [
    "COHORTS",
    "DATA_SOURCE_WORDS",
    "DEFAULT_PERIODS",
    "FILE_STATUSES",
    "IngestTotals",
    "OPTIONAL_COLUMNS",
    "OVERVIEW_COLUMNS",
    "StreamSummary",
    "assign_cohorts",
    "bootstrap_ratio",
    "check_consistency",
    "cohort_summary",
    "combine_summaries",
    "ensure_standalone_data",
    "find_repo_root",
    "output_paths",
    "overview_latex_frame",
    "overview_macros",
    "overview_table",
    "period_contrast",
    "plot_podcast_share_by_hour",
    "podcast_share_by_hour",
    "read_ingest_reports",
    "shard_paths",
    "summarise_streams",
    "user_podcast_shares",
]
