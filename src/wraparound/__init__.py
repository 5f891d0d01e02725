"""Wraparound: integrated primary care for an English NHS locality."""
