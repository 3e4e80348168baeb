"""State the launcher keeps beside moto's backends, reset together with them.

moto's `POST /moto-api/reset` rebuilds its backends; the launcher's own test-set state
(health observations, injected failures, timing knobs) is cleared on the same call so a
reset really starts from nothing.
"""

import threading

LOCK = threading.RLock()

# Default timing of managed global-cluster operations (seconds). Real switchovers take
# minutes; tests set a second or two to watch the wait loop see the transition.
DEFAULT_CONFIG = {
    # From SwitchoverGlobalCluster / FailoverGlobalCluster until the target is writer.
    "global_cluster_transition_seconds": 0.0,
    # After a failover with data loss: until the old writer has rejoined as a
    # secondary (SynchronizationStatus pending-resync -> connected).
    "rejoin_seconds": 0.0,
}

config = dict(DEFAULT_CONFIG)
# health check id -> {checker region: endpoint healthy?}
health = {}
# injected failures, see faults.py
faults = []
_next_fault_id = [1]


def next_fault_id():
    with LOCK:
        fid = _next_fault_id[0]
        _next_fault_id[0] += 1
        return fid


def reset():
    with LOCK:
        config.clear()
        config.update(DEFAULT_CONFIG)
        health.clear()
        faults.clear()
