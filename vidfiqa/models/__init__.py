"""Model families, one module each, registered by name in :mod:`vidfiqa.models.registry`."""
