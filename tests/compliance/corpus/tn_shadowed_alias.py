"""A module alias rebound as a parameter is not the module any more: no claims on it."""
import json


def render(json):
    return json.whatever_the_caller_passed()
