"""Deterministic fake names and Spotify identifiers for the simulated catalogue and users.

Everything here is drawn from a caller's ``numpy.random.Generator`` and vectorised: a name is a
few indices into fixed word lists, so the same generator state gives the same names.

* :func:`base62_ids` - Spotify ids: 22 characters from ``[0-9A-Za-z]`` (the part after
  ``spotify:track:`` and friends).
* :func:`pseudo_words` - pronounceable nonsense words (``Travomen``) from onset-vowel-coda
  syllables; used for artist, album and author names so that names are unique without lists
  of real people.
* :func:`phrases` - 1..k title-cased words from a small English list (track and episode titles).
* :func:`unique_names` - draw names until ``n`` distinct ones exist, keeping the draw order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_CODES = np.frombuffer(BASE62.encode("ascii"), dtype=np.uint8).astype(np.uint32)

_ONSETS = np.array(
    "b br c ch d dr f fl g gr h j k l m n p pr r s sh st t tr v w z kl sl".split(), dtype=object
)
_VOWELS = np.array("a e i o u ai ea ou y a e o".split(), dtype=object)
_CODAS = np.array(["", "", "", "", "n", "r", "s", "l", "x", "th", "nd", "m"], dtype=object)

WORDS = np.array(
    """
    love night summer heart fire dream light rain river gold blue city road home wild
    silver shadow storm ocean sky star moon sun glass paper stone echo electric velvet
    midnight morning evening golden broken quiet loud lonely lucky crazy sweet bitter
    dance run fall rise fly burn shine drive walk wait call hold break turn stay
    window garden mirror signal engine island desert forest winter spring autumn
    highway harbor neon static circle ghost angel devil thunder lightning honey
    coffee cherry lemon wine smoke dust feather diamond anchor compass frontier
    memory promise secret story letter song voice answer question reason season
    together forever tonight yesterday tomorrow someday nowhere everywhere always
    little big young old new first last only every other true real
    """.split(),
    dtype=object,
)

FIRST_NAMES = np.array(
    """
    Ada Alex Amara Anna Ben Carla Chen Dana David Elena Emil Eva Felix Freya Hana Hugo Ida
    Ines Ivan Jonas Julia Kai Kenji Lara Leo Lina Luca Maya Mila Nadia Nils Noah Omar Ola
    Paula Pia Rafael Rosa Sami Sara Tariq Tess Theo Uma Vera Yara Yusuf Zoe
    """.split(),
    dtype=object,
)


def base62_ids(rng: np.random.Generator, n: int, length: int = 22) -> np.ndarray:
    """``n`` random base62 strings of ``length`` characters (a ``<U{length}`` array)."""
    codes = _BASE62_CODES[rng.integers(0, 62, size=(n, length))]
    return np.ascontiguousarray(codes).view(f"<U{length}").reshape(n)


def _cat(*parts: np.ndarray | str) -> np.ndarray:
    """Element-wise string concatenation of object arrays and scalars."""
    out = parts[0]
    for part in parts[1:]:
        out = np.asarray(out, dtype=object) + part
    return np.asarray(out, dtype=object)


def pseudo_words(
    rng: np.random.Generator, n: int, min_syl: int = 2, max_syl: int = 3
) -> np.ndarray:
    """``n`` capitalised nonsense words of ``min_syl..max_syl`` syllables (object array)."""
    n_syl = rng.integers(min_syl, max_syl + 1, size=n)
    word = np.full(n, "", dtype=object)
    for k in range(max_syl):
        syl = _cat(
            _ONSETS[rng.integers(0, len(_ONSETS), size=n)],
            _VOWELS[rng.integers(0, len(_VOWELS), size=n)],
        )
        last = n_syl == k + 1
        syl = np.where(last, _cat(syl, _CODAS[rng.integers(0, len(_CODAS), size=n)]), syl)
        word = np.where(k < n_syl, _cat(word, syl), word)
    return np.strings.capitalize(word.astype(str)).astype(object)


def phrases(rng: np.random.Generator, n: int, min_words: int = 1, max_words: int = 4) -> np.ndarray:
    """``n`` title-cased phrases of ``min_words..max_words`` words from :data:`WORDS`."""
    n_words = rng.integers(min_words, max_words + 1, size=n)
    out = np.full(n, "", dtype=object)
    for k in range(max_words):
        word = np.strings.capitalize(WORDS[rng.integers(0, len(WORDS), size=n)].astype(str))
        sep = "" if k == 0 else " "
        out = np.where(k < n_words, _cat(out, sep, word.astype(object)), out)
    return out


def unique_names(
    rng: np.random.Generator, n: int, draw: Callable[[np.random.Generator, int], np.ndarray]
) -> np.ndarray:
    """``n`` distinct names from repeated calls of ``draw(rng, m)``, in first-drawn order."""
    names = np.empty(0, dtype=object)
    for _ in range(50):
        more = draw(rng, max(2 * (n - len(names)), 16))
        names = np.concatenate([names, more])
        _, first = np.unique(names, return_index=True)
        names = names[np.sort(first)]
        if len(names) >= n:
            return names[:n]
    raise ValueError(f"could not draw {n} distinct names; enlarge the word lists")
