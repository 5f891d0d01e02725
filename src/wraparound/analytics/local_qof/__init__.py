"""The local QOF engine: a scheme file (``scheme``), its formulas (``formulas``), achievement
per practice and month over the engine (``achievement``) and the published run (``run``)."""
