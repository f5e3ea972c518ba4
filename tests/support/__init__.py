"""What the tests share that is not a fixture: test images, a live server, schema checks.

conftest.py files hand these out as fixtures; a test module imports from here only
values it needs while it is collected (parametrize lists, ids). Test modules never
import from one another.
"""
