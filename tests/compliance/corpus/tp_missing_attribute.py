"""True positives: attributes that an imported module does not have."""
import json
import os.path

import reexport_pkg.helpers as helpers


def use(payload):
    json.dumps(payload)
    json.dump_everything(payload)
    os.path.join("a", "b")
    os.path.joinn("a", "b")
    helpers.helper_one()
    return helpers.helper_two_and_a_half()
