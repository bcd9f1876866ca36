"""pytest plugin for convt2d users: `pytest -p convt2d.pytest_plugin`, or in a conftest.py
`pytest_plugins = ["convt2d.pytest_plugin"]`.

- registers and loads the Hypothesis profile "convt2d": no per-example deadline (the exact oracle's
  time grows with the problem, which is not a failure) and no too_slow health check;
  HYPOTHESIS_PROFILE or --hypothesis-profile still choose another;
- a `convt2d_module` fixture (the module);
- lists, at the end of the run, the results that passed but were suspicious (outside the
  suspicious band, docs/oracle.md), which assert_close does not fail.
"""

from __future__ import annotations

import os

import pytest

import convt2d

_suspicious = []


def _listen(report, problem):
    if report.suspicious and len(_suspicious) < 20:
        _suspicious.append((report, problem))


def pytest_configure(config):
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:  # the plugin works without Hypothesis too
        return
    settings.register_profile("convt2d", deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    chosen = os.environ.get("HYPOTHESIS_PROFILE")
    try:
        chosen = chosen or config.getoption("hypothesis_profile")
    except ValueError:
        pass
    if not chosen:
        settings.load_profile("convt2d")
    if _listen not in convt2d._report_listeners:
        convt2d._report_listeners.append(_listen)


def pytest_report_header(config):
    names = sorted({i["name"] for i in convt2d.implementations()})
    return f"convt2d: {convt2d.__file__} ({len(names)} implementations)"


def pytest_terminal_summary(terminalreporter):
    if not _suspicious:
        return
    terminalreporter.section("convt2d: suspicious results (passed, outside the band)")
    for report, problem in _suspicious:
        where = repr(problem) if isinstance(problem, convt2d.Problem) else ""
        terminalreporter.write_line(f"{where}\n{report}")


@pytest.fixture
def convt2d_module():
    """The convt2d module."""
    return convt2d
