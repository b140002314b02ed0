"""Execution requests and tool-call authorization: policy decides, humans settle the rest."""
