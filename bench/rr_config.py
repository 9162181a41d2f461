"""RR config generation: render + `bird -p` for 10..5,000 nodes, and `birdc configure`
on a real BIRD holding 1,000 neighbors.

Baselines in the same run: the per-node cost at 10 nodes (linear growth keeps the ratio
near 1), a plain f-string rendering of the same sessions (the template engine's own
cost), and `birdc configure` of an unchanged file.
"""

import resource
import subprocess
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench.common import median, table, timer
from workers.bird import check_config
from workers.render import BgpPeer, Community, RouteReflectorBirdConfig, render_route_reflector_bird

SIZES = (10, 100, 1000, 5000)


def config(nodes: int) -> RouteReflectorBirdConfig:
    return RouteReflectorBirdConfig(
        cluster="bench", name="rr1", router_id="198.18.0.2", asn=65000,
        community=Community((65000, 100)),
        border_gateway=BgpPeer("border_gateway", "Border gateway mx1", "198.18.0.1"),
        border_gateway_asn=65000,
        nodes=tuple(
            BgpPeer(f"node_{i}", f"Node hv{i}", f"198.18.{1 + i // 250}.{1 + i % 250}")
            for i in range(nodes)
        ),
        networks_v4=("203.0.113.0/24",), networks_v6=(),
    )  # fmt: skip


def fstring_sessions(c: RouteReflectorBirdConfig) -> str:
    return "".join(
        f'protocol bgp {n.protocol} from node_session {{\n  description "{n.description}";\n'
        f"  neighbor {n.address} as {c.asn};\n}}\n\n"
        for n in c.nodes
    )


def bird_peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def render_table() -> None:
    rows, previous, first_marginal = [], None, None
    for n in SIZES:
        c = config(n)
        renders, baselines, parses = [], [], []
        for _ in range(3):
            with timer() as t:
                text = render_route_reflector_bird(c)
            renders.append(t())
            with timer() as t:
                fstring_sessions(c)
            baselines.append(t())
            with timer() as t:
                check_config(text)
            parses.append(t())
        tracemalloc.start()
        render_route_reflector_bird(c)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        total = median(renders) + median(parses)
        marginal = "" if previous is None else (total - previous[1]) / (n - previous[0]) * 1e6
        # a step of fewer than 500 nodes changes the total by less than the noise
        if marginal != "" and first_marginal is None and n - previous[0] >= 500:
            first_marginal = marginal
        rows.append([n, median(renders) * 1000, median(renders) / median(baselines),
                     median(parses) * 1000, total * 1000, marginal,
                     "" if first_marginal is None else marginal / first_marginal, peak,
                     bird_peak_rss_mib(), len(text) // 1024])  # fmt: skip
        previous = (n, total)
    table(["nodes", "render ms", "x f-string", "bird -p ms", "total ms", "us/added node",
           "x first", "render peak MiB", "bird maxrss MiB", "config KiB"], rows)  # fmt: skip
    print(
        "us/added node: (total(N) - total(previous N)) / added nodes; 'x first': that over "
        "the first step of 500+ nodes (near 1 means linear growth)."
    )


def configure_table(neighbors: int = 1000) -> None:
    """A real BIRD in a namespace whose only link is a dummy: sessions go nowhere."""
    ns = "bench-rr"
    subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    with tempfile.TemporaryDirectory() as tmp:
        conf, sock, pid = Path(tmp, "bird.conf"), f"{tmp}/bird.ctl", f"{tmp}/bird.pid"
        try:
            for command in (
                f"ip netns add {ns}",
                f"ip -n {ns} link add d0 type veth peer name d1",  # d1 stays down: no carrier
                f"ip -n {ns} addr add 198.18.0.2/16 dev d0",
                f"ip -n {ns} link set d0 up",
            ):
                subprocess.run(command.split(), check=True)
            conf.write_text(render_route_reflector_bird(config(neighbors)))
            subprocess.run(["ip", "netns", "exec", ns, "bird", "-c", str(conf), "-s", sock,
                            "-P", pid], check=True)  # fmt: skip
            time.sleep(0.5)

            def configure() -> float:
                with timer() as t:
                    out = subprocess.run(["birdc", "-s", sock, "configure"], capture_output=True,
                                         text=True, check=True).stdout  # fmt: skip
                assert "Reconfigured" in out, out
                return t()

            unchanged = median([configure() for _ in range(5)])
            added = []
            for extra in range(1, 6):
                conf.write_text(render_route_reflector_bird(config(neighbors + extra)))
                added.append(configure())
            rss = int(Path(f"/proc/{Path(pid).read_text().strip()}/status").read_text()
                      .split("VmRSS:")[1].split()[0]) / 1024  # fmt: skip
        finally:
            subprocess.run(["ip", "netns", "pids", ns], capture_output=True, check=False)
            if Path(pid).exists():
                subprocess.run(["kill", Path(pid).read_text().strip()], check=False)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    table(["neighbors", "configure unchanged ms", "configure +1 neighbor ms", "ratio",
           "BIRD RSS MiB"],
          [[neighbors, unchanged * 1000, median(added) * 1000, median(added) / unchanged,
            rss]])  # fmt: skip


if __name__ == "__main__":
    render_table()
    print()
    configure_table()
