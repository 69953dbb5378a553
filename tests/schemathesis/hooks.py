"""Schemathesis hooks for tests/schemathesis/run.sh: keep the run's own credentials alive.

The run authenticates with one API key of the admin account. Revoking that key or deleting
that user would turn every later request into a 401/403 that never reaches a handler, so
cases whose `{id}` names either are dropped (run.sh passes the two IDs). Every other ID is
still generated for those operations, so their 400/404/204 answers are checked as before.
"""

import os

import schemathesis

# (method, path) -> the ID that must not be generated for its `{id}`.
PROTECTED = {
    ("DELETE", "/api/v1/api-keys/{id}"): os.environ["VIGIL_ST_KEY_ID"],
    ("DELETE", "/api/v1/users/{id}"): os.environ["VIGIL_ST_USER_ID"],
}


def names(value, protected):
    """Whether vigil would read `value` as the ID `protected` (Rust's i64 parse accepts a
    leading '+' and zeros; Python's int() accepts a bit more, which only drops more cases)."""
    try:
        return int(str(value).strip()) == int(protected)
    except ValueError:
        return False


@schemathesis.hook
def filter_case(context, case):
    op = context.operation
    protected = PROTECTED.get((op.method.upper(), op.path))
    if protected is None:
        return True
    return not names((case.path_parameters or {}).get("id"), protected)
