"""The sandbox: the real template, state machine and handlers against an embedded AWS (moto) on 127.0.0.1."""
