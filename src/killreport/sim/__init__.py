"""The ESI simulator behind `killreport sim`: see docs/simulator.md."""

from killreport.sim.options import SimOptions
from killreport.sim.server import SimServer, build_app
from killreport.sim.state import Sim
from killreport.sim.testing import RunningSim, SimControl, running_sim

__all__ = ["RunningSim", "Sim", "SimControl", "SimOptions", "SimServer", "build_app", "running_sim"]
