"""Remote commands: cdtui's pooled SSH runner against OpenSSH's ``ssh`` client, in the same run.

1. 100 sequential ``true`` through one pooled connection vs 100 ``ssh ... true`` (target >= 5x).
2. One command fanned out to 10 hosts concurrently vs to 1 host (wall-time ratio; target <= 2x).
3. ``seq 1000000`` streamed through RemoteProcess vs ``ssh ... seq 1000000 > /dev/null``
   (target >= 1M lines/s).

The servers are real sshd on loopback (tests/sshd.py), logging in as the current user. They set
``SetEnv SHLVL=1``, which keeps bash from sourcing ~/.bashrc for a remote command (a login shell
with a heavy rc, e.g. pyenv init, costs every remote command the same, ours and ssh's alike);
section 0 measures that share on a server without the setting. Usage:
python bench/ssh_commands.py [--runs 3] [--count 100] [--hosts 10] [--lines 1000000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdtui.engine.events import Status
from cdtui.runners.ssh import RemoteProcess, SshPool
from tests.sshd import Fleet, SshServer, running_fleet

# asyncssh (without liboqs) negotiates curve25519; ssh's default sntrup761 costs it ~60 ms more.
SAME_KEX = ("-o", "KexAlgorithms=curve25519-sha256")


def ssh_argv(
    fleet: Fleet, server: SshServer, *command: str, kex: tuple[str, ...] = ()
) -> list[str]:
    return [
        "ssh",
        *kex,
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={fleet.known_hosts}",
        "-o",
        "ControlMaster=no",
        "-i",
        str(fleet.user_key),
        "-p",
        str(server.port),
        f"{getpass.getuser()}@127.0.0.1",
        *command,
    ]


def ssh_client(fleet: Fleet, server: SshServer, count: int, *command: str, kex=()) -> float:
    argv = ssh_argv(fleet, server, *command, kex=kex)
    began = time.perf_counter()
    for _ in range(count):
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


async def remote(pool: SshPool, server: SshServer, command, on_output=None, **options) -> None:
    process = RemoteProcess(
        pool, server.name, server.host(), command, on_output=on_output or _drop, **options
    )
    await process.start()
    result = await process.wait(60)
    assert result.status is Status.SUCCEEDED, result


def _drop(stream: str, data: bytes) -> None:
    pass


async def sequential(server: SshServer, count: int, **options) -> float:
    """``count`` stages of ``true``; the pool's one connection is made before the clock starts."""
    pool = SshPool()
    try:
        await pool.get(server.name, server.host())
        began = time.perf_counter()
        for _ in range(count):
            await remote(pool, server, ["true"], **options)
        took = time.perf_counter() - began
        assert pool.connects == 1
        return took
    finally:
        await pool.close()


async def fan_out(servers: list[SshServer], command: list[str], warm: bool) -> tuple[float, float]:
    """Wall time and our CPU time of one command on every server at once.

    ``warm``: the pool is connected and has run a command on each host before the clock starts
    (sshd spends ~45 ms after authentication before it serves a connection's first session).
    """
    pool = SshPool()
    try:
        if warm:
            await asyncio.gather(*(remote(pool, s, ["true"]) for s in servers))
        began, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(remote(pool, s, command) for s in servers))
        return time.perf_counter() - began, time.process_time() - cpu
    finally:
        await pool.close()


async def stream_lines(server: SshServer, lines: int) -> tuple[float, int]:
    pool = SshPool()
    got = [0]

    def count(stream: str, data: bytes) -> None:
        got[0] += data.count(b"\n")

    try:
        await pool.get(server.name, server.host())
        began = time.perf_counter()
        await remote(pool, server, ["seq", str(lines)], on_output=count)
        return time.perf_counter() - began, got[0]
    finally:
        await pool.close()


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="Seconds, not minutes: for CI.")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.count, args.hosts, args.lines = 1, 5, 2, 20_000
    root = Path(tempfile.mkdtemp(prefix="cdtui-bench-ssh-"))
    with (
        running_fleet(root / "fleet", args.hosts) as fleet,
        running_fleet(root / "rc", 1, extra_config="") as rc_fleet,
    ):
        one = fleet[0]
        n, runs = args.count, args.runs

        print("0. login shell startup files (server with vs without SetEnv SHLVL=1)")
        rc = rc_fleet[0]
        few, some = min(10, n), min(20, n)
        clean = median([ssh_client(fleet, one, few, "true") / few for _ in range(runs)])
        heavy = median([ssh_client(rc_fleet, rc, few, "true") / few for _ in range(runs)])
        ours_clean = median([asyncio.run(sequential(one, some)) / some for _ in range(runs)])
        ours_rc = median([asyncio.run(sequential(rc, some)) / some for _ in range(runs)])
        print(
            f"   ssh true: {clean * 1000:.1f} ms clean, {heavy * 1000:.1f} ms with ~/.bashrc; "
            f"cdtui: {ours_clean * 1000:.1f} ms clean, {ours_rc * 1000:.1f} ms with ~/.bashrc "
            f"(rc share ~{(ours_rc - ours_clean) * 1000:.0f} ms/command; ratio ssh/cdtui with rc "
            f"{heavy / ours_rc:.1f}x)"
        )

        print(f"1. {n} sequential `true` (one pooled connection vs {n} ssh processes)")
        ours, keep, theirs, same = [], [], [], []
        for _ in range(args.runs):
            ours.append(asyncio.run(sequential(one, n)))
            keep.append(asyncio.run(sequential(one, n, keep_children=True)))
            theirs.append(ssh_client(fleet, one, n, "true"))
            same.append(ssh_client(fleet, one, n, "true", kex=SAME_KEX))
        rows = [
            ("RemoteProcess (leftover check on)", median(ours)),
            ("RemoteProcess keep_children", median(keep)),
            ("ssh client (default kex)", median(theirs)),
            ("ssh client (curve25519 like ours)", median(same)),
        ]
        for label, took in rows:
            print(f"   {label:34} {took:7.3f}s = {took / n * 1000:6.2f} ms/command")
        for label, took in rows[2:]:
            print(
                f"   ratio {label} / cdtui: {took / rows[0][1]:.1f}x "
                f"(keep_children {took / rows[1][1]:.1f}x); target >= 5x"
            )

        hosts = fleet.servers[: args.hosts]
        print(f"2. one command on {len(hosts)} hosts at once vs on 1 host (wall time)")
        print(f"   (all {len(hosts)} sshd share this machine's {os.cpu_count()} CPUs with us)")
        for label, command, warm in (
            ("true, cold (connect included)", ["true"], False),
            ("true, warm", ["true"], True),
            ("sleep 0.2, warm", ["sleep", "0.2"], True),
        ):
            alone = [asyncio.run(fan_out(hosts[:1], command, warm)) for _ in range(runs)]
            single = median([r[0] for r in alone])
            rounds = [asyncio.run(fan_out(hosts, command, warm)) for _ in range(runs)]
            many, cpu = median([r[0] for r in rounds]), median([r[1] for r in rounds])
            print(
                f"   {label}: 1 host {single * 1000:.1f} ms, {len(hosts)} hosts "
                f"{many * 1000:.1f} ms, ratio {many / single:.2f}x (target <= 2x); "
                f"our CPU in that round {cpu * 1000:.0f} ms"
            )

        print(f"3. seq {args.lines} streamed (RemoteProcess vs ssh > /dev/null)")
        ours_t, seen = [], 0
        for _ in range(args.runs):
            took, seen = asyncio.run(stream_lines(one, args.lines))
            ours_t.append(took)
        assert seen == args.lines, seen
        theirs_t = median(
            [ssh_client(fleet, one, 1, "seq", str(args.lines)) for _ in range(args.runs)]
        )
        rate = args.lines / median(ours_t)
        print(
            f"   cdtui {median(ours_t):.3f}s = {rate / 1e6:.2f}M lines/s; ssh {theirs_t:.3f}s = "
            f"{args.lines / theirs_t / 1e6:.2f}M lines/s (connect included); "
            f"ratio ssh/cdtui {theirs_t / median(ours_t):.2f}x; target >= 1M lines/s"
        )


if __name__ == "__main__":
    main()
