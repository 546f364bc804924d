"""The house's layering: foundations import nothing above them, and no modules import in a circle.

The import graph comes from an AST walk (tests/import_graph.py), lazy imports inside functions
included: a function-level import is how an upward arrow hides (``artifact`` -> ``runtime`` and
``results`` -> ``bench`` did, before issue 24).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from import_graph import PACKAGE_DIR, arrows_up, circles, closure, floors, house, module_graph, room_graph

# The bottom of the house: each may import the others, nothing else of edgecnn.
FOUNDATIONS = ("names", "fileio", "formatting", "results", "errors", "quiet", "progress", "env", "artifact",
               "manifest", "spec", "parity", "verdicts")
ALLOWED = {"edgecnn"} | {f"edgecnn.{name}" for name in FOUNDATIONS}


@pytest.mark.parametrize("name", FOUNDATIONS)
def test_a_foundation_loads_only_foundations_in_a_fresh_process(name):
    code = (f"import sys, json, edgecnn.{name}; "
            "print(json.dumps(sorted(m for m in sys.modules if m == 'edgecnn' or m.startswith('edgecnn.'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=PACKAGE_DIR.parent)
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout))
    assert f"edgecnn.{name}" in loaded
    assert loaded - ALLOWED == set()


@pytest.mark.parametrize("name", FOUNDATIONS)
def test_a_foundation_reaches_only_foundations_through_any_import(name):
    reached = closure(module_graph(), f"edgecnn.{name}")
    assert reached - ALLOWED == set(), f"edgecnn.{name} imports (perhaps lazily) {sorted(reached - ALLOWED)}"


def test_no_modules_import_each_other_in_a_circle():
    assert circles(module_graph()) == []


def test_no_rooms_import_each_other_in_a_circle():
    """Rooms are top-level modules and sub-packages: ``bench`` is one room, all its modules in it."""
    rooms = room_graph(module_graph())
    assert circles(rooms) == [] and arrows_up(rooms) == []


def test_the_walk_sees_lazy_imports_and_circles_but_not_type_checking_ones(tmp_path):
    """The graph on a small package: a function-level import closes a circle; TYPE_CHECKING does not."""
    pkg = tmp_path / "edgecnn"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "templates").mkdir()  # not a package: its .py files are data
    files = {
        "__init__.py": "",
        "low.py": "from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
                  "if TYPE_CHECKING:\n    from edgecnn.high import H\n",
        "mid.py": "from edgecnn import low\n\ndef f():\n    from edgecnn.sub.leaf import g\n    return g\n",
        "high.py": "import edgecnn.mid\nfrom edgecnn.sub import leaf, VALUE\n",
        "sub/__init__.py": "VALUE = 1\n",
        "sub/leaf.py": "def g():\n    from edgecnn.mid import f\n    return f\n",
        "templates/script.py": "import edgecnn.high\n",
    }
    for rel, text in files.items():
        (pkg / rel).write_text(textwrap.dedent(text))
    graph = module_graph(pkg)
    assert graph == {
        "edgecnn": set(), "edgecnn.low": set(), "edgecnn.mid": {"edgecnn.low", "edgecnn.sub.leaf"},
        "edgecnn.high": {"edgecnn.mid", "edgecnn.sub", "edgecnn.sub.leaf"},
        "edgecnn.sub": set(), "edgecnn.sub.leaf": {"edgecnn.mid"},
    }
    assert circles(graph) == [["edgecnn.mid", "edgecnn.sub.leaf"]]
    rooms = room_graph(graph)
    assert rooms == {"edgecnn": set(), "low": set(), "mid": {"low", "sub"}, "high": {"mid", "sub"},
                     "sub": {"mid"}}
    # mid <-> sub: sub imports less (one arrow against two), so its arrow is the one up.
    assert arrows_up(rooms) == [("sub", "mid")]
    assert floors(rooms) == {"edgecnn": 0, "low": 0, "sub": 0, "mid": 1, "high": 2}
    h = house(pkg)
    assert (h.rooms, h.floors, h.arrows, h.arrows_up, len(h.circles)) == (5, 3, 5, [("sub", "mid")], 1)
