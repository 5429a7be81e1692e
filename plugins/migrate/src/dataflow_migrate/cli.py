def register(app):  # placeholder until the CLI lands
    pass
