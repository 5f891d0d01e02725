"""Clinical risk management (DCB0129): the hazard log, the risk matrix and the clinical
safety case report generated from them (``python -m wraparound.safety``)."""
