"""Classical baselines as pure policies."""
