"""The embedded node's host networking: its CNI bridge, and removing every iptables rule the node left behind.

kubelet leaves KUBE-FIREWALL and KUBE-MARK-* chains, kube-proxy its KUBE-SERVICES tree, and the CNI bridge
and portmap plugins CNI-* chains (KUBERNETES-LOCAL.md). Only one embedded cluster runs per machine (a lock
in `cluster.py`), so every KUBE-* chain is its own; CNI-* chains are removed when a rule tagged with the
node's network name leads to them, plus the portmap plugin's shared CNI-HOSTPORT-* chains.
"""

from __future__ import annotations

import ipaddress
import shlex
import shutil
import subprocess

TABLES = ("filter", "nat", "mangle")


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True)


def ensure_bridge(name: str, gateway: str, prefix: int) -> None:
    """The node's bridge with its gateway address, up (the node IP must exist before kubelet starts)."""
    if _run(["ip", "link", "show", name]).returncode != 0:
        result = _run(["ip", "link", "add", name, "type", "bridge"])
        if result.returncode != 0:
            raise RuntimeError(f"could not create the bridge {name}: {result.stderr.strip()}")
    shown = _run(["ip", "-4", "-o", "addr", "show", "dev", name]).stdout
    if f" {gateway}/" not in shown:
        result = _run(["ip", "addr", "add", f"{gateway}/{prefix}", "dev", name])
        if result.returncode != 0:
            raise RuntimeError(f"could not give {name} the address {gateway}: {result.stderr.strip()}")
    _run(["ip", "link", "set", name, "up"])


def remove_bridge(name: str) -> None:
    if _run(["ip", "link", "show", name]).returncode == 0:
        _run(["ip", "link", "delete", name])


def enable_forwarding() -> None:
    """Pod → Service traffic is routed back out of the bridge: the host must forward (Podman does the same)."""
    path = "/proc/sys/net/ipv4/ip_forward"
    try:
        with open(path) as f:
            if f.read().strip() == "1":
                return
        with open(path, "w") as f:
            f.write("1")
    except OSError as exc:
        raise RuntimeError(f"cannot enable IPv4 forwarding ({path}): {exc}") from exc


def owned_rules(network: str, pod_cidr: str) -> list[tuple[str, str, list[str]]]:
    """(binary, table, rule) of every rule the node owns, for `-D`; and its chains come last as ('-X', name)."""
    found: list[tuple[str, str, list[str]]] = []
    net = ipaddress.ip_network(pod_cidr)
    for binary in ("iptables", "ip6tables"):
        save = shutil.which(f"{binary}-save")
        if save is None:
            continue
        for table in TABLES:
            dump = _run([save, "-t", table])
            if dump.returncode != 0:
                continue
            found.extend((binary, table, rule) for rule in _owned_in_table(dump.stdout, network, net))
    return found


def _owned_in_table(dump: str, network: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[list[str]]:
    chains: list[str] = []
    rules: list[list[str]] = []
    for line in dump.splitlines():
        if line.startswith(":"):
            chains.append(line[1:].split()[0])
        elif line.startswith("-A "):
            try:
                rules.append(shlex.split(line))
            except ValueError:
                continue
    ours = {c for c in chains if c.startswith(("KUBE-", "CNI-HOSTPORT-"))}
    tag = f'name: "{network}"'
    for rule in rules:  # CNI chains tagged with our network, and the chains those rules lead to
        text = " ".join(rule)
        if tag in text or _from_pods(rule, net):
            if rule[1].startswith("CNI-"):
                ours.add(rule[1])
            target = _target(rule)
            if target and target.startswith("CNI-"):
                ours.add(target)
    deletions: list[list[str]] = []
    for rule in rules:
        chain = rule[1]
        if chain in ours:
            continue  # flushed with its chain
        target = _target(rule)
        if (target in ours) or tag in " ".join(rule):
            deletions.append(["-D", chain, *rule[2:]])
    flushes = [["-F", c] for c in sorted(ours)]
    removals = [["-X", c] for c in sorted(ours)]
    return deletions + flushes + removals


def _target(rule: list[str]) -> str | None:
    for flag in ("-j", "-g"):
        if flag in rule:
            index = rule.index(flag)
            if index + 1 < len(rule):
                return rule[index + 1]
    return None


def _from_pods(rule: list[str], net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    if "-s" not in rule:
        return False
    index = rule.index("-s")
    try:
        source = ipaddress.ip_network(rule[index + 1], strict=False)
    except (ValueError, IndexError):
        return False
    return source.version == net.version and source.subnet_of(net)  # type: ignore[arg-type]


def remove_owned_rules(network: str, pod_cidr: str) -> int:
    """Delete the node's rules and chains; returns how many commands succeeded."""
    done = 0
    for binary, table, rule in owned_rules(network, pod_cidr):
        if _run([binary, "-w", "-t", table, *rule]).returncode == 0:
            done += 1
    return done
