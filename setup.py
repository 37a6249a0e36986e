"""Install the LAF pipeline packages and the ``laf`` console script.

Direct requirements only; the exact, resolver-compiled set is ``requirements.lock``
(install it with ``make venv``; pip's own resolver backtracks for many minutes here).
"""
from setuptools import find_packages, setup

setup(
    name="laf-pipeline",
    version="0.1.0",
    description="Weakly supervised fine-grained action localization (LAF) as a TFX pipeline",
    python_requires=">=3.10,<3.11",
    packages=find_packages(include=["laf", "laf.*", "pipeline", "pipeline.*", "components",
                                    "components.*", "trainer", "trainer.*", "schemas", "schemas.*"]),
    package_data={"schemas": ["*.pbtxt"], "pipeline": ["*.yaml", "*.json"]},
    install_requires=[
        "tfx[kfp]==1.16.0",
        "tensorflow==2.16.2",
        "tensorflow-io==0.37.0",
        "apache-beam[gcp]==2.59.0",
        "tensorflow-model-analysis==0.47.1",
        "keras==3.12.4",
        "tf-keras==2.16.0",
        "kfp==2.5.0",
        "numpy==1.26.4",
        "protobuf==3.20.3",
        "pyarrow==10.0.1",
        "av==17.1.0",
        "pillow",
        "pyyaml",
        "matplotlib",
        "tqdm",
    ],
    extras_require={"test": ["pytest"], "dask": ["dask[distributed]==2023.5.0"]},
    entry_points={"console_scripts": ["laf=laf.cli:main"]},
)
