"""Decisions: an agent asks, a human answers, the lifecycle state machine decides."""
