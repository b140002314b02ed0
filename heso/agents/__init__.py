"""Agents (seed heepr): bootstrap tokens, registration, the events inbox that doubles as heartbeat, status."""
