"""Receipt-bound approvals: opened for a receipt, settled by the approver's Ed25519 signature."""
