def leaf_function():
    return "leaf"
