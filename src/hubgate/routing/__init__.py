"""Choosing channels for a model: priority tiers, weights, pinning."""
