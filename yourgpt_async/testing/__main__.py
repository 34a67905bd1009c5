"""``python -m yourgpt_async.testing``: serve the emulator until Ctrl-C (see ``serve_main``)."""

from ._cli import serve_main

if __name__ == "__main__":
    raise SystemExit(serve_main())
