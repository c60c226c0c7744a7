"""One thin module per ``course`` sub-command: its options (``add_arguments``) and what it
prints (``run``); the work is done in the layers below."""
