"""The HumanLayer SDK's wire protocol (``humanlayer`` 0.7.x) at ``/humanlayer/v1``, onto HESO decisions."""
