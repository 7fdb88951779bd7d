"""Production monitoring tied to each version (``monitor``) and silent-provider-change probes (``probe``)."""
