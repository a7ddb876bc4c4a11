"""prefcal: is the type of what Spotify recommends based on users' usual listening preferences?

The package holds all logic of the study; the Snakemake workflow and the notebooks call into it.
"""

__version__ = "0.1.0"
