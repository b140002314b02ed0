"""Soaks that run HESO as deployed (its own PostgreSQL and Redis, real processes) under faults."""
