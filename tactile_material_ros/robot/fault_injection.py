"""Fault injection into the simulated UR10 at a chosen state of the palpation routine.

``FAULT@STATE`` (e.g. ``protective_stop@holding``) makes the simulated arm suffer FAULT the
first time the routine enters STATE. The injector only listens to the routine's state
changes; what the fault does is the simulated arm's physics (see ``sim_arm``). ``preload``
(the target stands 7 mm higher than the scene file says) is a fact about the world before the
press, so it is injected at ``approaching`` only.
"""

from __future__ import annotations

from dataclasses import dataclass

from tactile_material_ros.robot.palpation import ACTIVE_STATES, PalpationListener, PalpationState
from tactile_material_ros.robot.sim_arm import SimArm, SimFault

# faults that only make sense at some states (the rest: every active state)
ALLOWED_STATES = {SimFault.PRELOAD: (PalpationState.APPROACHING,)}


def allowed_states(fault: SimFault) -> tuple[PalpationState, ...]:
    """The states at which ``fault`` can be injected."""
    return ALLOWED_STATES.get(fault, ACTIVE_STATES)


@dataclass(frozen=True)
class FaultInjection:
    fault: SimFault
    at_state: PalpationState

    @classmethod
    def parse(cls, text: str) -> FaultInjection:
        """``FAULT@STATE`` -> FaultInjection; errors list the known faults and states."""
        faults = ", ".join(f.value for f in SimFault)
        states = ", ".join(s.value for s in ACTIVE_STATES)
        fault_name, sep, state_name = text.partition("@")
        if not sep:
            raise ValueError(f"fault injection {text!r} must be FAULT@STATE, e.g. protective_stop@holding; "
                             f"faults: {faults}; states: {states}")
        fault = SimFault.parse(fault_name.strip())
        try:
            state = PalpationState(state_name.strip())
        except ValueError:
            state = None
        if state not in ACTIVE_STATES:
            raise ValueError(f"cannot inject at state {state_name!r}; states: {states}")
        return cls(fault, state)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        allowed = allowed_states(self.fault)
        if self.at_state not in allowed:
            raise ValueError(f"{self.fault.value} can be injected at {', '.join(s.value for s in allowed)} only, "
                             f"not at {self.at_state.value}")

    def __str__(self) -> str:
        return f"{self.fault.value}@{self.at_state.value}"


class FaultInjector(PalpationListener):
    """Fires the injection into ``arm`` once, on the first entry into its state.

    ``target``: the scene object being palpated, which ``no_contact`` removes and ``preload`` raises.
    """

    def __init__(self, arm: SimArm, injection: FaultInjection, target: str | None = None) -> None:
        self.arm = arm
        self.injection = injection
        self.target = target
        self.fired_at: float | None = None

    def on_state(self, state: str, t: float) -> None:
        if self.fired_at is None and state == self.injection.at_state.value:
            self.fired_at = t
            self.arm.inject(self.injection.fault, self.target)
