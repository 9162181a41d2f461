"""The node packet filter: the rendered ruleset (golden file, checked by the real `nft -c`),
the protected prefixes, the per-guest commands and the drift comparison (on real nft, in a
throwaway network namespace)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from workers import firewall
from workers.firewall import (
    FirewallRulesetInvalid,
    GuestAddresses,
    NodeFirewallConfig,
    check_ruleset,
    protected_prefixes,
    render_node_firewall,
)

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
UPDATE = os.environ.get("FABRIC_UPDATE_GOLDEN") == "1"

PROTECTED = protected_prefixes(
    ["198.51.100.0/24", "198.51.100.2", "192.0.2.10", "127.0.0.0/8", "2001:db8:ffff::/48"],
    public=["203.0.113.0/24", "2001:db8:100::/64"],
)
CONFIG = NodeFirewallConfig(
    node="hv1",
    gateway_ipv4="10.0.0.1",
    gateway_ipv6="fe80::1",
    protected_v4=PROTECTED[0],
    protected_v6=PROTECTED[1],
    guests=(
        GuestAddresses("vnet1", "203.0.113.10", "2001:db8:100::10"),
        GuestAddresses("vnet2", "203.0.113.11"),
    ),
)

needs_nft = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("unshare"),
    reason="needs root and nft (make test installs nftables)",
)


def in_netns(script: str, stdin: str = "") -> subprocess.CompletedProcess:
    """Run a shell script in a throwaway network namespace (nothing outside is touched)."""
    return subprocess.run(
        ["unshare", "-n", "sh", "-ec", script], input=stdin, capture_output=True, text=True,
        check=False,
    )  # fmt: skip


def test_ruleset_matches_golden_file():
    text = render_node_firewall(CONFIG)
    golden = GOLDEN / "node-firewall.nft"
    if UPDATE:
        golden.write_text(text)
    assert text == golden.read_text()


@needs_nft
@pytest.mark.parametrize(
    "config",
    [
        CONFIG,
        NodeFirewallConfig("empty", "10.0.0.1", "", (), ()),
        NodeFirewallConfig(
            "big",
            "10.0.0.1",
            "fe80::1",
            PROTECTED[0],
            PROTECTED[1],
            tuple(
                GuestAddresses(f"vnet{i}", f"100.64.{i // 250}.{i % 250 + 1}") for i in range(1000)
            ),
        ),
    ],  # fmt: skip
    ids=["two-guests", "empty-node", "1000-guests"],
)
def test_every_ruleset_is_accepted_by_nft(config):
    check_ruleset(render_node_firewall(config))


@needs_nft
def test_nft_rejects_a_broken_ruleset_with_its_message():
    with pytest.raises(FirewallRulesetInvalid, match="syntax error"):
        check_ruleset(render_node_firewall(CONFIG).replace("policy accept;", "policy maybe;"))


def test_protected_prefixes_are_merged_without_loopback_and_public_networks():
    v4, v6 = protected_prefixes(
        ["198.51.100.0/24", "198.51.100.7", "127.0.0.0/8", "203.0.112.0/23", "fe80::/64",
         "2001:db8:100::/56"],
        public=["203.0.113.0/24", "2001:db8:100::/64"],
    )  # fmt: skip
    assert v4 == ("198.51.100.0/24", "203.0.112.0/24")  # the public /24 cut out of the /23
    assert "2001:db8:100::/64" not in v6 and "2001:db8:100:1::/64" in v6


def test_a_public_address_is_never_protected():
    assert protected_prefixes(["203.0.113.5"], public=["203.0.113.0/24"]) == ((), ())


@pytest.mark.parametrize(
    "vnet, ipv4, ipv6",
    [
        ("vnet1; reboot", "203.0.113.1", ""),
        ('vnet1"', "203.0.113.1", ""),
        ("a-very-long-interface", "203.0.113.1", ""),
        ("vnet1", "203.0.113.1 } flush ruleset", ""),
        ("vnet1", "203.0.113.1", "2001:db8::1; x"),
    ],
)
def test_hostile_guest_values_never_reach_nft(vnet, ipv4, ipv6):
    with pytest.raises(ValueError):
        GuestAddresses(vnet, ipv4, ipv6)


def test_hostile_prefixes_never_reach_nft():
    with pytest.raises(ValueError):
        render_node_firewall(NodeFirewallConfig("x", "10.0.0.1 }", "", (), ()))
    with pytest.raises(ValueError):
        protected_prefixes(["10.0.0.0/8; flush ruleset"])


def test_a_guest_is_set_elements_never_rules():
    lines = firewall.attach_lines(GuestAddresses("vnet7", "203.0.113.7", "2001:db8:100::7"))
    commands = lines[1]
    assert commands.startswith("nft ")
    assert commands.count("add element") == 3 and "rule" not in commands
    assert "chain" not in " ".join(firewall.detach_lines(GuestAddresses("vnet7", "203.0.113.7")))


@needs_nft
def test_attach_and_detach_lines_are_idempotent_and_fail_without_the_table():
    guest = GuestAddresses("vnet7", "203.0.113.7", "2001:db8:100::7")
    attach = "\n".join(firewall.attach_lines(guest))
    detach = "\n".join(firewall.detach_lines(guest))
    listing = f"nft list table inet {firewall.TABLE}; nft list table arp {firewall.TABLE}"
    script = "\n".join(["nft -f /dev/stdin", attach, attach, listing, "echo @@", detach, detach,
                         listing])  # fmt: skip
    result = in_netns(script, stdin=render_node_firewall(CONFIG))
    assert result.returncode == 0, result.stderr
    attached, detached = result.stdout.split("@@")
    assert attached.count('"vnet7" . 203.0.113.7') == 2  # inet and arp
    assert '"vnet7" . 2001:db8:100::7' in attached
    assert "vnet7" not in detached and '"vnet1" . 203.0.113.10' in detached

    missing = in_netns(attach)
    assert missing.returncode == firewall.MISSING_EXIT
    assert "no packet filter table" in missing.stderr
    assert in_netns(detach).returncode == 0  # nothing to remove: fine


def _tables(ruleset: str, edit: str = "") -> list[dict]:
    script = (
        f"nft -f /dev/stdin\n{edit}\n"
        f'nft -j list table inet {firewall.TABLE} || echo \'{{"missing": "inet"}}\'\n'
        f'nft -j list table arp {firewall.TABLE} || echo \'{{"missing": "arp"}}\''
    )
    result = in_netns(script, stdin=ruleset)
    assert result.returncode == 0, result.stderr
    return firewall._objects(result.stdout)


@needs_nft
def test_drift_is_found_rule_by_rule_and_element_by_element():
    text = render_node_firewall(CONFIG)
    desired = _tables(text)
    t = firewall.TABLE

    assert not firewall.compare(desired, _tables(text))  # counters and handles differ: no drift

    drift = firewall.compare(desired, _tables(text, f"nft flush chain inet {t} from_guest"))
    assert drift.needs_reload
    assert "rule in inet from_guest (spoofed IPv4 source) missing or changed" in drift.changed

    edited = text.replace("tcp dport 179 counter drop", "tcp dport 179 counter accept")
    drift = firewall.compare(desired, _tables(edited))
    assert drift.needs_reload and any("BGP from a guest" in c for c in drift.changed)

    drift = firewall.compare(desired, _tables(text, f"nft delete table arp {t}"))
    assert drift.missing_tables == ["arp"]
    assert f"table arp {t} was missing: created" in drift.describe()

    drift = firewall.compare(desired, _tables(text, (
        f"nft delete element inet {t} guest4 '{{ \"vnet1\" . 203.0.113.10 }}'\n"
        f"nft add element arp {t} guest4 '{{ \"vnet9\" . 203.0.113.99 }}'"
    )))  # fmt: skip
    assert not drift.needs_reload
    assert drift.missing_elements == [("inet", "guest4", "vnet1", "203.0.113.10")]
    assert drift.extra_elements == [("arp", "guest4", "vnet9", "203.0.113.99")]
    assert drift.describe() == [
        "filter element vnet1 . 203.0.113.10 restored in inet guest4",
        "filter element vnet9 . 203.0.113.99 removed from arp guest4",
    ]


@needs_nft
def test_repair_commands_restore_the_desired_elements():
    class NetnsSession:
        """Stands in for the node's SSH session: runs in one throwaway namespace."""

        def __init__(self, ruleset):
            self.script = ["nft -f /dev/stdin"]
            self.ruleset = ruleset

        def run(self, command, **_):
            self.script.append(command)

    text = render_node_firewall(CONFIG)
    t = firewall.TABLE
    edit = (
        f"nft delete element inet {t} guest6 '{{ \"vnet1\" . 2001:db8:100::10 }}'\n"
        f"nft add element inet {t} guest4 '{{ \"vnet9\" . 203.0.113.99 }}'"
    )
    drift = firewall.compare(_tables(text), _tables(text, edit))
    session = NetnsSession(text)
    firewall.repair(session, drift, text)
    repaired = _tables(text, edit + "\n" + "\n".join(session.script[1:]))
    assert not firewall.compare(_tables(text), repaired)
