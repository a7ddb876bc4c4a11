"""k-anonymity of item-level tables and the output scanner (prefcal.privacy): known answers."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prefcal import privacy


def _streams() -> pd.DataFrame:
    # item a: 3 participants (one of them twice), b: 2, c: 1 (and only a 10 s play), null: 2
    rows = [
        ("P1", "a", 60_000),
        ("P1", "a", 60_000),
        ("P2", "a", 60_000),
        ("P3", "a", 60_000),
        ("P1", "b", 60_000),
        ("P2", "b", 60_000),
        ("P3", "c", 10_000),
        ("P1", None, 60_000),
        ("P2", None, 60_000),
    ]
    return pd.DataFrame(rows, columns=["participant_id", "item_uri", "ms_played"])


def test_participants_per_item_counts_distinct_participants(tmp_path: Path) -> None:
    s = _streams()
    n = privacy.participants_per_item(s)
    assert n.to_dict() == {"a": 3, "b": 2, "c": 1}
    # the same from Parquet shards (one participant per shard here), read in batches
    paths = []
    for i, (_, part) in enumerate(s.groupby("participant_id")):
        p = tmp_path / f"shard_{i}.parquet"
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), p, row_group_size=1)
        paths.append(p)
    assert privacy.participants_per_item(paths).to_dict() == {"a": 3, "b": 2, "c": 1}
    # plays only (>= 30 s): c disappears
    assert privacy.participants_per_item(s, min_ms_played=30_000).to_dict() == {"a": 3, "b": 2}


def test_participants_per_item_with_a_participant_in_two_inputs(tmp_path: Path) -> None:
    """Inputs are counted one by one; a participant found in two inputs is still counted once."""
    import numpy as np

    rng = np.random.default_rng(3)
    n = 3000
    frame = pd.DataFrame(
        {
            "participant_id": [f"P{v}" for v in rng.integers(0, 40, n)],
            "item_uri": [f"i{v}" for v in rng.integers(0, 90, n)],
            "ms_played": rng.integers(0, 90_000, n),
        }
    )
    naive = (
        frame[frame["ms_played"] >= 30_000]
        .drop_duplicates(["participant_id", "item_uri"])
        .groupby("item_uri")
        .size()
    )
    # disjoint shards (by participant) and overlapping chunks (by row): the same counts
    shards = [part for _, part in frame.groupby(frame["participant_id"].str[-1])]
    chunks = [frame.iloc[i * 750 : (i + 1) * 750] for i in range(4)]
    paths = []
    for i, c in enumerate(chunks):
        paths.append(tmp_path / f"c{i}.parquet")
        pq.write_table(pa.Table.from_pandas(c, preserve_index=False), paths[-1], row_group_size=500)
    for inputs in (frame, shards, chunks, paths, [chunks[0], *paths[1:], frame.iloc[:0]]):
        got = privacy.participants_per_item(inputs, min_ms_played=30_000)
        assert got.to_dict() == naive.to_dict()
    assert naive.max() > 5 and len(naive) == 90


@pytest.mark.parametrize(("k", "kept"), [(1, ["a", "b", "c"]), (2, ["a", "b"]), (3, ["a"]),
                                          (4, [])])  # fmt: skip
def test_suppress_rare_items_known_answer(k: int, kept: list[str]) -> None:
    counts = privacy.participants_per_item(_streams())
    table = pd.DataFrame({"item": ["a", "b", "c", "zzz", None], "plays": [4, 2, 1, 9, 5]})
    out = privacy.suppress_rare_items(table, "item", counts, k)
    assert out["item"].tolist() == kept  # unknown item (n = 0) and null are always removed
    assert out.attrs["k_anonymity"]["rows_suppressed"] == 5 - len(kept)
    assert privacy.rare_items(counts, k) == {"a", "b", "c"} - set(kept)


def test_k_anonymous_one_call_and_bad_arguments() -> None:
    table = pd.DataFrame({"item_uri": ["a", "b", "c"], "x": [1, 2, 3]})
    out = privacy.k_anonymous(table, "item_uri", _streams(), k=2)
    assert out["x"].tolist() == [1, 2]
    with pytest.raises(KeyError, match="no column 'nope'"):
        privacy.suppress_rare_items(table, "nope", {}, 2)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        privacy.suppress_rare_items(table, "item_uri", {}, 0)
    assert privacy.k_anonymity_from_config({"privacy": {"k_anonymity": 7}}) == 7
    assert privacy.k_anonymity_from_config({}) == privacy.DEFAULT_K
    with pytest.raises(ValueError, match="privacy.k_anonymity"):
        privacy.k_anonymity_from_config({"privacy": {"k_anonymity": 0}})


def _pdf_with_text(text: str) -> bytes:
    stream = zlib.compress(f"BT /F1 12 Tf ({text}) Tj ET".encode("latin-1"))
    return (
        b"%PDF-1.4\n1 0 obj\n<< /Filter /FlateDecode >>\nstream\n"
        + stream
        + (b"\nendstream\nendobj\n%%EOF")
    )


def test_scanner_finds_planted_values_in_every_file_type(tmp_path: Path) -> None:
    """Each file holds one planted value; the scanner must find each one, where it is."""
    uri = "spotify:track:4uLU6hMCjMI75M1A2tKUQC"
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "top.csv").write_text(
        'artist,plays\n"Zorbex, Jr",3\nLove,4\n"Common; Quillo; Other",5\n'
    )
    (tmp_path / "tables" / "top.tex").write_text("Artist & Plays \\\\\nDra\\_mon & 3 \\\\\n")
    (tmp_path / "nb.html").write_text("<table><tr><td> Klaxo </td></tr></table>")
    nb = {"cells": [{"outputs": [{"data": {"text/plain": "   artist  plays\n0  Vemtra      3"}}]}]}
    (tmp_path / "nb.ipynb").write_text(json.dumps(nb))
    pq.write_table(pa.table({"ids": [[uri], []], "n": [1, 2]}), tmp_path / "t.parquet")
    (tmp_path / "fig.pdf").write_bytes(_pdf_with_text("198.51.100.7"))
    (tmp_path / "plain.log").write_text("user sim-user-0badc0de logged")
    (tmp_path / "skip").mkdir()
    (tmp_path / "skip" / "x.txt").write_text("198.51.100.7 sim-user-0badc0de")
    found = privacy.scan_outputs(
        [tmp_path],
        substrings=[uri, "sim-user-0badc0de"],
        patterns=[r"198\.51\.100\.\d{1,3}"],
        cells=["Zorbex, Jr", "Dra_mon", "Klaxo", "Vemtra", "Lov", "Quillo"],
        exclude=[tmp_path / "skip"],
    )
    got = {(f.path.name, f.needle, f.where) for f in found}
    assert got == {
        ("top.csv", "Zorbex, Jr", "cell"),
        ("top.csv", "Quillo", "cell"),
        ("top.tex", "Dra_mon", "cell"),
        ("nb.html", "Klaxo", "cell"),
        ("nb.ipynb", "Vemtra", "cell"),
        ("t.parquet", uri, "parquet:ids"),
        ("fig.pdf", "198.51.100.7", "pdf"),
        ("plain.log", "sim-user-0badc0de", "text"),
    }  # "Lov" is no cell ("Love" is), and nothing under skip/ is read


def test_scanner_many_needles_is_exact(tmp_path: Path) -> None:
    """Thousands of needles (the rare items of a study) compile to one trie-shaped pattern."""
    needles = [f"spotify:track:{i:022d}" for i in range(5000)]
    text = "x" * 1000 + needles[4321] + " spotify:track:" + "9" * 22 + "\n"
    (tmp_path / "a.txt").write_text(text * 50)
    found = privacy.scan_outputs([tmp_path], substrings=needles)
    assert [(f.needle, f.where) for f in found] == [(needles[4321], "text")]
    assert privacy.scan_outputs([tmp_path / "a.txt"], substrings=["absent"]) == []
