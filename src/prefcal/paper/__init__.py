"""Paper assets: LaTeX macros, tables, figures and the PDF build.

* :mod:`prefcal.paper.macros` writes ``\\newcommand`` files (every number quoted in the paper);
* :mod:`prefcal.paper.tables` writes a DataFrame as CSV and as a LaTeX ``tabular``;
* :mod:`prefcal.paper.figures` sets the paper's plot style and saves figures byte-reproducibly;
* :mod:`prefcal.paper.build` merges the stages' macro files and builds the PDF with latexmk.
"""
