def register_engine_listener() -> None:
    pass
