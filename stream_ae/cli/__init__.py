"""The command line: `stream-ae` and `python -m stream_ae`.

`main.main` parses and dispatches; the file and model commands (`model.py`), the
benchmark commands (`bench.py`) and the options that say how a file is read
(`columns.py`) each have their own module.
"""
