"""Indicators as data: definitions (``definition``), their compilation to Ibis over the engine
(``compile``), the statistics at every level (``compute``), and the run that publishes them
(``run``). See ``docs/indicators.md``."""
