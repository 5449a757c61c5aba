"""What a SIGKILL makes unavoidable: cache violations the kill itself caused, told apart from the rest."""

from __future__ import annotations

import time

from killreport.sim.testing import RunningSim


class CacheWitness:
    """White-box: when the simulator handed out each Expires, and when each early request's was handed.

    A request that arrives before the Expires its IP was given is a cache violation. A SIGKILL can
    make one that no client can avoid: an answer received but not yet stored when the worker died,
    or one the simulator finished after the worker was gone (it does not notice the disconnect and
    counts the answer as given). Both are handed out within moments of the kill; anything else is
    the client's fault.
    """

    def __init__(self, sim: RunningSim) -> None:
        self.handed_at: dict[tuple[str, str], float] = {}
        self.early: list[float] = []  # when the Expires each violation broke was handed out
        witness = self

        class Timed(dict[tuple[str, str], int]):
            def __setitem__(self, key: tuple[str, str], value: int) -> None:
                witness.handed_at[key] = time.time()
                super().__setitem__(key, value)

        real = sim.sim.is_cache_violation

        def violation(ip: str, path: str) -> bool:
            early = real(ip, path)
            if early:
                witness.early.append(witness.handed_at[(ip, path)])
            return early

        sim.sim.handed_out = Timed(sim.sim.handed_out)
        sim.sim.is_cache_violation = violation  # type: ignore[method-assign]

    def unexplained(self, kills: list[float], within_s: float) -> list[float]:
        """Violations whose Expires was not handed out within `within_s` of a kill."""
        return [t for t in self.early if not any(abs(t - k) <= within_s for k in kills)]
