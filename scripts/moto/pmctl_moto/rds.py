"""Aurora Global Database: the handlers moto 5.2.5 lacks or gets wrong.

Measured against plain moto_server 5.2.5 (scripts/moto/README.md, "RDS"):
- SwitchoverGlobalCluster, FailoverGlobalCluster, ModifyGlobalCluster: no handler
  (HTTP 500, which the SDK retries as a server error).
- DescribeGlobalClusters ignores GlobalClusterIdentifier: asked for one id it returns
  every global cluster, and for an unknown id it returns them all instead of
  GlobalClusterNotFoundFault.
- RemoveFromGlobalCluster looks the global cluster up in the caller's region, but moto
  keeps global clusters in us-east-1 only: called from us-east-2 it answers 200 and
  changes nothing; unknown ids are swallowed by a bare `except`.
- Global cluster members carry no SynchronizationStatus and the cluster no FailoverState.

The patches work on moto's own models (GlobalCluster.members, DBCluster.is_writer), so
DescribeGlobalClusters / DescribeDBClusters keep serialising them the moto way.

Model of a managed operation (what pmctl waits on): the call returns the global cluster
with FailoverState {Status: pending, FromDbClusterArn, ToDbClusterArn, IsDataLossAllowed};
after a third of `global_cluster_transition_seconds` the status reads `switching-over`
(or `failing-over`), and once the whole delay has passed the writer flag has moved and
FailoverState is gone. After a failover with data loss, the old writer stays a member
with IsWriter false and SynchronizationStatus `pending-resync` for `rejoin_seconds`, then
`connected` (Aurora re-adding the recovered old primary as a secondary). Delays are 0 by
default: the call itself answers `pending`, the next request sees the end state.
"""

import time

from moto.rds.exceptions import RDSClientError
from moto.rds.models import GlobalCluster, rds_backends
from moto.rds.responses import RDSResponse

from . import state

GLOBAL_REGION = "us-east-1"  # where moto stores global clusters (RDSResponse.global_backend)


def _fault(code, message):
    # The model gives each code its HTTP status (GlobalClusterNotFoundFault: 404, ...).
    return RDSClientError(code, message)


def _global_backend(account):
    return rds_backends[account][GLOBAL_REGION]


def _find_global(account, identifier):
    if not identifier:
        raise _fault("InvalidParameterValue", "GlobalClusterIdentifier is required")
    clusters = _global_backend(account).global_clusters
    for key, gc in clusters.items():
        if key.lower() == identifier.lower():
            return key, gc
    raise _fault(
        "GlobalClusterNotFoundFault", f"Global cluster {identifier} not found."
    )


def _find_member(gc, identifier):
    """A member by ARN (what AWS asks for) or, leniently, by cluster id."""
    if not identifier:
        raise _fault("InvalidParameterValue", "TargetDbClusterIdentifier is required")
    for member in gc.members:
        if identifier in (member.db_cluster_arn, member.db_cluster_identifier):
            return member
    raise _fault(
        "DBClusterNotFoundFault",
        f"DBCluster {identifier} is not a member of global cluster "
        f"{gc.global_cluster_identifier}.",
    )


def _writer(gc):
    for member in gc.members:
        if member.is_writer:
            return member
    return None


# --- transitions ------------------------------------------------------------------------


def _phase(op, now):
    elapsed = now - op["started"]
    if elapsed < op["delay"] / 3.0:
        return "pending"
    return "failing-over" if op["data_loss"] else "switching-over"


def advance(now=None):
    """Completes every managed operation whose delay has passed (lazily, on requests)."""
    now = time.monotonic() if now is None else now
    with state.LOCK:
        for account in list(rds_backends.keys()):
            for gc in list(_global_backend(account).global_clusters.values()):
                op = getattr(gc, "_pmctl_op", None)
                if op is None or now < op["started"] + op["delay"]:
                    continue
                for member in gc.members:
                    member.is_writer = member.db_cluster_arn == op["to"]
                if op["data_loss"]:
                    for member in gc.members:
                        if member.db_cluster_arn == op["from"]:
                            member._pmctl_rejoin_at = now + state.config["rejoin_seconds"]
                gc._pmctl_op = None


def _failover_state(self):
    op = getattr(self, "_pmctl_op", None)
    if op is None:
        return None
    return {
        "Status": _phase(op, time.monotonic()),
        "FromDbClusterArn": op["from"],
        "ToDbClusterArn": op["to"],
        "IsDataLossAllowed": op["data_loss"],
    }


_moto_members = GlobalCluster.global_cluster_members


def _members_with_sync_status(self):
    members = _moto_members.fget(self)
    now = time.monotonic()
    by_arn = {m.db_cluster_arn: m for m in self.members}
    for entry in members:
        cluster = by_arn.get(entry["DBClusterArn"])
        rejoin_at = getattr(cluster, "_pmctl_rejoin_at", None)
        if entry["IsWriter"]:
            continue
        pending = rejoin_at is not None and now < rejoin_at
        entry["SynchronizationStatus"] = "pending-resync" if pending else "connected"
    return members


def _start(self, target_id, data_loss):
    account = self.current_account
    advance()
    with state.LOCK:
        _, gc = _find_global(account, self.params.get("GlobalClusterIdentifier"))
        target = _find_member(gc, target_id)
        if getattr(gc, "_pmctl_op", None) is not None:
            raise _fault(
                "InvalidGlobalClusterStateFault",
                f"Global cluster {gc.global_cluster_identifier} has a switchover or "
                "failover in progress.",
            )
        writer = _writer(gc)
        if writer is target:
            raise _fault(
                "InvalidParameterValue",
                f"DBCluster {target.db_cluster_arn} is already the primary cluster of "
                f"global cluster {gc.global_cluster_identifier}.",
            )
        # A switchover needs every member healthy; a failover only the target.
        must_be_available = [target] if data_loss else list(gc.members)
        for member in must_be_available:
            # moto reports "creating" once, then "available": treat both as ready.
            if member._status not in ("available", "creating"):
                raise _fault(
                    "InvalidDBClusterStateFault",
                    f"DBCluster {member.db_cluster_arn} is in state {member._status}, "
                    "not available.",
                )
        gc._pmctl_op = {
            "from": writer.db_cluster_arn if writer else None,
            "to": target.db_cluster_arn,
            "data_loss": data_loss,
            "started": time.monotonic(),
            "delay": float(state.config["global_cluster_transition_seconds"]),
        }
        return gc


def switchover_global_cluster(self):
    from moto.core.responses import ActionResult

    gc = _start(self, self.params.get("TargetDbClusterIdentifier"), data_loss=False)
    return ActionResult({"GlobalCluster": gc})


def failover_global_cluster(self):
    from moto.core.responses import ActionResult

    allow = bool(self.params.get("AllowDataLoss"))
    switchover = bool(self.params.get("Switchover"))
    if allow and switchover:
        raise _fault(
            "InvalidParameterCombination",
            "AllowDataLoss and Switchover cannot be specified together.",
        )
    # Without AllowDataLoss the operation defaults to a switchover (API reference).
    gc = _start(self, self.params.get("TargetDbClusterIdentifier"), data_loss=allow)
    return ActionResult({"GlobalCluster": gc})


def modify_global_cluster(self):
    from moto.core.responses import ActionResult

    account = self.current_account
    with state.LOCK:
        key, gc = _find_global(account, self.params.get("GlobalClusterIdentifier"))
        if self.params.get("DeletionProtection") is not None:
            gc.deletion_protection = bool(self.params["DeletionProtection"])
        if self.params.get("EngineVersion"):
            gc.engine_version = self.params["EngineVersion"]
        new_id = self.params.get("NewGlobalClusterIdentifier")
        if new_id:
            clusters = _global_backend(account).global_clusters
            if any(k.lower() == new_id.lower() for k in clusters):
                raise _fault(
                    "GlobalClusterAlreadyExistsFault",
                    f"Global cluster {new_id} already exists.",
                )
            clusters.pop(key)
            gc.global_cluster_identifier = new_id
            clusters[new_id] = gc
            for member in gc.members:
                member.global_cluster_identifier = gc.global_cluster_arn
        return ActionResult({"GlobalCluster": gc})


def describe_global_clusters(self):
    from moto.core.responses import ActionResult

    identifier = self.params.get("GlobalClusterIdentifier")
    if identifier:
        _, gc = _find_global(self.current_account, identifier)
        clusters = [gc]
    else:
        clusters = self.global_backend.describe_global_clusters()
    return ActionResult({"GlobalClusters": clusters})


def remove_from_global_cluster(self):
    from moto.core.responses import ActionResult
    from moto.rds.models import find_cluster

    account = self.current_account
    with state.LOCK:
        _, gc = _find_global(account, self.params.get("GlobalClusterIdentifier"))
        identifier = self.params.get("DbClusterIdentifier")
        member = _find_member(gc, identifier)
        if identifier.startswith("arn:"):
            find_cluster(identifier)  # DBClusterNotFoundFault when it is gone
        if member.is_writer and len(gc.members) > 1:
            raise _fault(
                "InvalidGlobalClusterStateFault",
                f"DBCluster {member.db_cluster_arn} is the primary cluster; remove the "
                "secondary clusters first.",
            )
        gc.members.remove(member)
        member.global_cluster_identifier = None
        # A detached secondary becomes a standalone, writable cluster.
        member.is_writer = True
        return ActionResult({"GlobalCluster": gc})


_moto_call_action = RDSResponse.call_action


def _call_action(self):
    advance()
    return _moto_call_action(self)


def apply():
    GlobalCluster.failover_state = property(_failover_state)
    GlobalCluster.global_cluster_members = property(_members_with_sync_status)
    RDSResponse.switchover_global_cluster = switchover_global_cluster
    RDSResponse.failover_global_cluster = failover_global_cluster
    RDSResponse.modify_global_cluster = modify_global_cluster
    RDSResponse.describe_global_clusters = describe_global_clusters
    RDSResponse.remove_from_global_cluster = remove_from_global_cluster
    RDSResponse.call_action = _call_action
    return [
        "rds: SwitchoverGlobalCluster (managed, timed transition)",
        "rds: FailoverGlobalCluster (AllowDataLoss / Switchover)",
        "rds: ModifyGlobalCluster (DeletionProtection, EngineVersion, rename)",
        "rds: DescribeGlobalClusters honours GlobalClusterIdentifier",
        "rds: RemoveFromGlobalCluster works from any region, reports unknown ids",
        "rds: FailoverState and members' SynchronizationStatus",
    ]


def set_cluster_status(account, region, identifier, status):
    """Test control: force a DB cluster's status (e.g. to make a preflight refuse)."""
    with state.LOCK:
        backend = rds_backends[account][region]
        cluster = backend.clusters.get(identifier) or backend.clusters.get(
            identifier.lower()
        )
        if cluster is None:
            raise KeyError(f"no DB cluster {identifier} in {region}")
        cluster._status = status
