"""A custom scorer plugged in as module:function."""


def length_ok(output: str, case: object, max_words: int = 10) -> float:
    return float(len(output.split()) <= max_words)
