"""Model families, one module each, catalogued by name in :mod:`vidfiqa.models.records`."""
