"""True positives: the module exists, the name does not."""
from json import dumps, dumps_fast
from mltrainer.errors import ComplianceBlockedError, ComplianceBlockedWarning
from reexport_pkg import helper_two
from sklearn.linear_model import LogisticRegressionPlus


def use():
    return dumps, dumps_fast, ComplianceBlockedError, ComplianceBlockedWarning, helper_two, LogisticRegressionPlus
