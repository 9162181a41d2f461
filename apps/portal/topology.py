"""The cluster page's picture: the border gateway, the route reflectors and the nodes, each
BGP session coloured by the state the periodic collection stored (BgpSessionState) and
labelled with its routes. `cluster_topology` reads; `layout` places boxes and lines (plain
data, drawn by templates/portal/_topology.html as an SVG)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from apps.fabric.models import BgpSessionState, BorderGateway, Cluster, Node, RouteReflector
from apps.fabric.selectors import BORDER_GATEWAY_PROTOCOL, node_peer, rr_peer

MAX_NODES = 24  # more are counted, not drawn
BOX_W, BOX_H, SPACING, MARGIN = 130, 44, 160, 20
ROWS = {"bgw": 20, "rr": 160, "node": 300}


@dataclass(frozen=True)
class Session:
    """One end's view of a session: "established", "down" (any other state) or "unknown"
    (never collected); `stale` when its device stopped answering after `seen_at`."""

    state: str
    detail: str = "not collected yet"
    routes: int | None = None
    seen_at: datetime | None = None
    stale: bool = False


UNKNOWN = Session("unknown")


def session_of(row: BgpSessionState | None, routes: str) -> Session:
    """`row` as the picture shows it; `routes`: which count labels it (exported/imported)."""
    if row is None:
        return UNKNOWN
    detail = row.state + (f" ({row.info})" if row.info and row.info != row.state else "")
    return Session(
        state="established" if row.established else "down",
        detail=detail,
        routes=getattr(row, f"routes_{routes}"),
        seen_at=row.seen_at,
        stale=row.stale,
    )


@dataclass(frozen=True)
class Box:
    kind: str  # bgw, rr, node
    pk: int
    name: str
    state: str
    x: int
    y: int

    @property
    def cx(self) -> int:
        return self.x + BOX_W // 2


@dataclass(frozen=True)
class Link:
    upper: Box
    lower: Box
    session: Session

    @property
    def label_x(self) -> int:
        return (self.upper.cx + self.lower.cx) // 2

    @property
    def label_y(self) -> int:
        return (self.upper.y + BOX_H + self.lower.y) // 2


@dataclass(frozen=True)
class Topology:
    width: int
    height: int
    boxes: list[Box]
    links: list[Link]
    hidden_nodes: int
    box_w: int = BOX_W
    box_h: int = BOX_H


def _row(kind: str, devices: list, width: int) -> list[Box]:
    step = width / max(len(devices), 1)
    return [
        Box(kind, d.pk, d.name, d.state, round(step * i + (step - BOX_W) / 2), ROWS[kind])
        for i, d in enumerate(devices)
    ]


def layout(
    bgw: BorderGateway | None,
    rrs: list[RouteReflector],
    nodes: list[Node],
    sessions: dict[tuple, Session],
    hidden_nodes: int = 0,
) -> Topology:
    """Three rows (border gateway, RRs, nodes), a line per session. `sessions` is keyed
    ("bgw", rr pk) and ("node", rr pk, node pk)."""
    width = max(640, SPACING * max(len(rrs), len(nodes), 1) + 2 * MARGIN)
    bgw_boxes = _row("bgw", [bgw] if bgw else [], width)
    rr_boxes, node_boxes = _row("rr", rrs, width), _row("node", nodes, width)
    links = [Link(bgw_boxes[0], rr, sessions.get(("bgw", rr.pk), UNKNOWN))
             for rr in rr_boxes if bgw_boxes]  # fmt: skip
    links += [Link(rr, node, sessions.get(("node", rr.pk, node.pk), UNKNOWN))
              for rr in rr_boxes for node in node_boxes]  # fmt: skip
    return Topology(width, ROWS["node"] + BOX_H + MARGIN, [*bgw_boxes, *rr_boxes, *node_boxes],
                    links, hidden_nodes)  # fmt: skip


def _freshest(*candidates: Session) -> Session:
    """The first known end that still answers; else the first known; else unknown."""
    known = [s for s in candidates if s is not UNKNOWN]
    return next((s for s in known if not s.stale), known[0] if known else UNKNOWN)


def cluster_topology(cluster: Cluster) -> Topology:
    """The cluster's picture, in at most five queries whatever its size (four when the
    border gateway came with the cluster, `select_related("border_gateway")`)."""
    try:
        bgw = cluster.border_gateway
    except BorderGateway.DoesNotExist:
        bgw = None
    rrs = list(cluster.route_reflectors.order_by("name"))
    all_nodes = cluster.nodes.exclude(state=Node.State.NEW).order_by("name")
    nodes = list(all_nodes[: MAX_NODES + 1])
    hidden = all_nodes.count() - MAX_NODES if len(nodes) > MAX_NODES else 0
    nodes = nodes[:MAX_NODES]
    rows = BgpSessionState.objects.filter(
        Q(route_reflector__cluster=cluster) | Q(node__cluster=cluster)
    )
    by_end = {(r.route_reflector_id or r.node_id, r.protocol, r.node_id is None): r for r in rows}
    sessions: dict[tuple, Session] = {}
    for rr in rrs:
        rr_side = by_end.get((rr.pk, BORDER_GATEWAY_PROTOCOL, True))
        sessions["bgw", rr.pk] = session_of(rr_side, "exported")  # routes sent to the router
        for node in nodes:
            node_side = by_end.get((node.pk, rr_peer(rr).protocol, False))
            rr_side = by_end.get((rr.pk, node_peer(node).protocol, True))
            sessions["node", rr.pk, node.pk] = _freshest(
                session_of(node_side, "exported"), session_of(rr_side, "imported")
            )
    return layout(bgw, rrs, nodes, sessions, hidden)
