"""OpenAPI post-processing: paths as PROTOCOL.md writes them."""


def strip_trailing_slashes(result: dict, generator, request, public) -> dict:
    """Every route accepts both forms (``/?$``); the schema names the one PROTOCOL.md uses."""
    result["paths"] = {path.rstrip("/") or "/": item for path, item in result.get("paths", {}).items()}
    return result
