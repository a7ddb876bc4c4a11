"""Privacy of the smoke study's outputs (the shared ``smoke_run`` of conftest.py: one workflow run
for every workflow test).

* The dummy personal data the simulator plants in the exports (user names, e-mail addresses, IP
  addresses in 198.51.100.0/24, user agents; recorded in
  ``results/truth/users/shard_NNN/users.parquet``) appear in no file under ``results/`` except
  the simulated exports themselves (``results/raw/``, which stand in for participants' own files,
  and any other simulated study's ``raw/`` folder under ``results/``, such as a sensitivity
  run's).
* The simulated donation folder names (``sim_NNNNNN``) appear nowhere in the tables.
* No item heard by fewer than k participants (``privacy.k_anonymity``) appears in an output that
  leaves the project: tables, paper, notebooks, figures, reports.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from prefcal import privacy

pytestmark = pytest.mark.workflow

PII_COLUMNS = ("dummy_username", "dummy_email", "dummy_ips", "dummy_user_agents")
PII_PATTERNS = (r"198\.51\.100\.\d{1,3}", r"sim-user-[0-9a-f]{8}", r"@example\.invalid")
# The simulator's truth records the values it planted (these columns of
# results/truth/users/shard_NNN/users.parquet) so that this test knows what to search for. Like
# results/raw/, the truth describes the simulated participants themselves: validation code reads
# it, and nothing from it leaves the project (paper, tables, notebooks, report are scanned below).
TRUTH_USERS = "results/**/truth/users/shard_*/users.parquet"
RAW = "results/**/raw"  # simulated exports: stand-ins for participants' own files


def _planted(run: Path) -> list[str]:
    values: set[str] = set()
    for path in sorted(run.glob(TRUTH_USERS)):
        t = pq.read_table(path, columns=list(PII_COLUMNS)).to_pandas()
        for col in PII_COLUMNS:
            for v in t[col]:
                values.update([v] if isinstance(v, str) else list(v))
    return sorted(v for v in values if v and v != "unknown")


def test_planted_pii_appears_only_in_the_raw_exports(smoke_run: Path, tmp_path: Path) -> None:
    values = _planted(smoke_run)
    assert len(values) >= 80  # 40 users: user name, e-mail, IPs (+ user agents), at least
    assert any(v.startswith("198.51.100.") for v in values)
    raw_dirs = sorted(  # folders of simulated shards (shard_NNN/sim_NNNNNN/...) only
        p
        for p in smoke_run.glob(RAW)
        if p.is_dir() and all(c.name.startswith("shard_") for c in p.iterdir())
    )
    assert smoke_run / "results/raw" in raw_dirs
    # the scan works: the raw exports, where the values were planted, are full of them
    raw = privacy.scan_outputs(raw_dirs, substrings=values)
    assert {f.needle for f in raw} >= {v for v in values if "@" not in v}
    # everything else under results/; the truth's own record of the values is checked without
    # its dummy_* columns (the known finding, see test_truth_keeps_no_dummy_pii)
    truth_files = sorted(smoke_run.glob(TRUTH_USERS))
    found = privacy.scan_outputs(
        [smoke_run / "results"],
        substrings=values,
        patterns=PII_PATTERNS,
        exclude=[*raw_dirs, *truth_files],
    )
    for i, path in enumerate(truth_files):
        stripped = tmp_path / f"users_{i}.parquet"
        pq.write_table(pq.read_table(path).drop_columns(list(PII_COLUMNS)), stripped)
        found += privacy.scan_outputs([stripped], substrings=values, patterns=PII_PATTERNS)
    assert found == [], [(str(f.path), f.needle, f.where) for f in found[:10]]


def test_no_simulated_folder_names_in_data_and_tables(smoke_run: Path) -> None:
    roots = [smoke_run / "results" / d for d in ("data", "tables", "paper", "notebooks")]
    assert privacy.scan_outputs(roots, patterns=[r"sim_\d{6}"]) == []
    # the scan works: the truth maps the folders, so they are there
    assert privacy.scan_outputs([smoke_run / "results/truth"], patterns=[r"sim_\d{6}"])


def _outputs_that_leave(run: Path) -> list[Path]:
    res = run / "results"
    roots = [res / "tables", res / "paper", res / "figures", *sorted(res.glob("report*"))]
    roots += sorted((res / "notebooks").glob("*.html")) + sorted(
        (res / "notebooks").glob("*.ipynb")
    )
    return [r for r in roots if r.exists()]


def test_no_rare_item_in_outputs_that_leave(smoke_run: Path, tmp_path: Path) -> None:
    cfg = yaml.safe_load((smoke_run / "config/config.yaml").read_text())
    k = privacy.k_anonymity_from_config(cfg)
    shards = sorted(smoke_run.glob("results/data/shard_*/streams.parquet"))
    rare_uris = privacy.rare_items(privacy.participants_per_item(shards, "item_uri"), k)
    ids = {u.rsplit(":", 1)[-1] for u in rare_uris}
    cells: set[str] = set()
    for col in ("creator_name", "album_name", "item_name"):
        counts = privacy.participants_per_item(shards, col)
        cells |= {v for v in privacy.rare_items(counts, k) if len(v) >= 4}
    assert len(rare_uris) > 100 and len(cells) > 10  # the smoke study has rare items
    roots = _outputs_that_leave(smoke_run)
    assert roots
    found = privacy.scan_outputs(roots, substrings=rare_uris | ids, cells=cells)
    assert found == [], [(str(f.path), f.needle, f.where) for f in found[:10]]
    # positive control: a table listing one rare item per column would be caught
    planted = tmp_path / "top_items.csv"
    uri = sorted(rare_uris)[0]
    name = sorted(cells)[0]
    pd.DataFrame({"item": [uri], "name": [name], "n": [1]}).to_csv(planted, index=False)
    got = {f.needle for f in privacy.scan_outputs([planted], substrings=rare_uris, cells=cells)}
    assert got == {uri, name}
