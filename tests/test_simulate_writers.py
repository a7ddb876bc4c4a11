"""The export JSON writer equals ``json.dumps(indent=2, ensure_ascii=False)`` byte for byte."""

from __future__ import annotations

import json

import numpy as np

from prefcal.simulate.writers import json_objects, json_records, tokens_for


def test_json_records_and_objects_equal_json_dumps_with_numbers_in_every_column_kind():
    rows = [
        {"ts": "2026-01-05T10:00:00Z", "n": 5, "name": 'Café "x"', "uri": None, "k": 7},
        {"ts": "2026-01-06T11:00:00Z", "n": -3, "name": "b", "uri": "spotify:track:1", "k": 0},
    ]
    keys = tuple(rows[0])
    cols = [
        tokens_for([r["ts"] for r in rows]),
        np.array([r["n"] for r in rows], dtype=np.int64),  # numbers as a numpy array
        tokens_for([r["name"] for r in rows]),
        tokens_for([r["uri"] for r in rows]),
        [r["k"] for r in rows],  # numbers in a list
    ]
    assert json_records(keys, cols) == json.dumps(rows, indent=2, ensure_ascii=False)
    nested = json_objects(keys, cols, level=2)
    for text, row in zip(nested, rows, strict=True):
        assert json.loads(text) == row
        want = json.dumps({"a": {"b": row}}, indent=2, ensure_ascii=False)
        assert text in want
    assert json_records(keys, [c[:0] for c in cols]) == "[]"
