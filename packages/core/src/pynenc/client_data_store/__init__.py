"""Client data stores keep large argument values once, under a content hash."""
