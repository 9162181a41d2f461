"""`python -m lab up|down|status`: the IP-fabric lab in network namespaces (needs root)."""

import argparse
import json
import shutil
import sys
import time

from lab.netns import DEFAULT_DIR, Lab, LabError, lab_down, lab_up


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--dir", default=str(DEFAULT_DIR))
    parser.add_argument("--prefix", default="fl")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--route-reflectors", type=int, default=2)
    parser.add_argument("--underlay", default="198.51.100.0/24")
    args = parser.parse_args()
    if args.action == "down":
        lab_down(directory=args.dir, prefix=args.prefix)
        shutil.rmtree(args.dir, ignore_errors=True)  # keys, logs, state: nothing left behind
        print(f"lab down; {args.dir} removed")
        return 0
    if args.action == "status":
        lab = Lab.load(args.dir)
        print(json.dumps({n: h.address for n, h in lab.hosts.items()}, indent=2))
        return 0
    started = time.monotonic()
    try:
        lab = lab_up(
            directory=args.dir, prefix=args.prefix, nodes=args.nodes,
            route_reflectors=args.route_reflectors, underlay=args.underlay,
        )  # fmt: skip
    except LabError as exc:
        print(f"lab up failed: {exc}", file=sys.stderr)
        return 1
    print(f"lab up in {time.monotonic() - started:.2f}s; state in {lab.dir}")
    for host in lab.hosts.values():
        print(f"  {host.name:6} {host.role:5} {host.address:15} netns {host.namespace}")
    print(
        f"  ssh -i {lab.ssh_key_path} root@{lab.hosts['node1'].address}"
        if "node1" in lab.hosts
        else ""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
