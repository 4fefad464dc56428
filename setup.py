"""The one setting pyproject.toml cannot state: which packages to ship.

Every folder under src/reprodiag (data folders too, as setuptools asks) and under the
top-level resources/ folder, which pyproject.toml's package-dir maps to reprodiag.resources;
a `packages.find` table can look in one place only.
"""

from setuptools import find_namespace_packages, setup

packages = set(find_namespace_packages("src", include=["reprodiag", "reprodiag.*"]))
packages.add("reprodiag.resources")
packages.update(f"reprodiag.resources.{name}" for name in find_namespace_packages("resources"))
setup(packages=sorted(packages))
