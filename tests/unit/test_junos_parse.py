"""Parsing what the border gateway says: counts must be the group's own, never a sum with
the summary Junos prints after it."""

from lab.junos_config import PeerState, bgp_group, render_bgp_group_detail
from workers.junos import parse_bgp_group_detail

# `show bgp group VM detail` as a real MX prints it: the group, then (after the `Groups:`
# line) a summary over all groups that repeats the prefix counters.
REAL_OUTPUT = """\
Group Type: Internal    AS: 65000                  Local AS: 65000
  Name: VM              Index: 0                   Flags: <Export Eval>
  Export: [ reject-all ]
  Holdtime: 0
  Total peers: 2        Established: 2
  198.51.100.2+179
  198.51.100.3+179
  Table inet.0
    Active prefixes:              3
    Received prefixes:            3
    Accepted prefixes:            3
    Suppressed due to damping:    0
    Advertised prefixes:          0

Groups: 1 Peers: 2    External: 0    Internal: 2    Down peers: 0   Flaps: 0
  Table inet.0
    Received prefixes:            3
    Accepted prefixes:            3
    Active prefixes:              2
    Suppressed due to damping:    0
    Received external prefixes:   0
    Active external prefixes:     0
    Externals suppressed:         0
    Received internal prefixes:   3
    Active internal prefixes:     2
    Internals suppressed:         0
    RIB State: BGP restart is complete
"""


def test_accepted_prefixes_are_the_groups_own_not_doubled_by_the_summary():
    state = parse_bgp_group_detail(REAL_OUTPUT)
    assert state.exists and state.established == 2 and state.total_peers == 2
    assert state.peers == ["198.51.100.2", "198.51.100.3"]
    # two RRs each expected to send 2 routes (4): one sent only 1, so 3 must not pass as 6
    assert state.accepted_prefixes == 3


def test_the_summary_block_alone_counts_nothing():
    summary_only = REAL_OUTPUT[REAL_OUTPUT.index("Groups:") :]
    assert parse_bgp_group_detail(summary_only).accepted_prefixes == 0


def test_the_simulator_prints_the_summary_as_junos_does_and_the_parser_reads_it_right():
    group = bgp_group(
        [
            "set protocols bgp group VM type internal",
            "set protocols bgp group VM peer-as 65000",
            "set protocols bgp group VM neighbor 198.51.100.2",
            "set protocols bgp group VM neighbor 198.51.100.3",
        ],
        "VM",
    )
    states = {
        "198.51.100.2": PeerState(established=True, received=2, accepted=2, active=2),
        "198.51.100.3": PeerState(established=True, received=1, accepted=1, active=0),
    }
    output = render_bgp_group_detail(group, states)
    after = output[output.index("Groups:") :]
    assert "Table inet.0" in after and "Accepted prefixes:" in after
    assert parse_bgp_group_detail(output).accepted_prefixes == 3
