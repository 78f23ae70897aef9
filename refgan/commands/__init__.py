"""CLI commands: one module per command, each with ``add_parser`` and ``run``.

``add_parser(sub)`` must call ``sub.add_parser(NAME, ...)`` and
``parser.set_defaults(run=run)``; ``run(args)`` returns an exit code.
"""
