"""Metering: model prices, offline token counts, and cost in integer micro-dollars."""
