__all__ = ["helper_one"]


def helper_one():
    return 1


def helper_two():
    return 2


def _private():
    return 3
