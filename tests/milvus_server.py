"""A real Milvus standalone server for the tests: the binary that the ``milvus`` PyPI package
(2.3.5, "embedded Milvus") ships, started as a child process with its data in a folder.

Why not ``milvus.default_server`` as it is (``set_base_dir`` + ``start``): four things it does
that break tests here, all measured on this machine (docs/scale-out-notes.md):

* its embedded etcd always listens on 2379/2380 (the template's ``etcd_port`` only changes where
  Milvus *connects*), so a second server on the machine (two test sessions at once) cannot
  start; here an etcd config file (``etcd.config.path``) moves both ports;
* it picks each port by trying to bind it without ``SO_REUSEADDR``: after a stop the server's
  ports sit in TIME_WAIT, so a restart moves the proxy to another port (19530 → 19531) and the
  clients' URI is wrong; here the ports are chosen once, probed with ``SO_REUSEADDR`` (which still
  fails on a port somebody listens on) and kept across restarts;
* it unpacks the 257 MB binary into every data folder (8 s of a 12 s start); here it is unpacked
  once per machine into a shared folder (``QA_MILVUS_BIN_DIR``, default under the temp dir);
* ``stop()`` kills the server after 1 s, and it ``chdir``\\ s the calling process; here stop waits
  for a clean exit (``kill()`` is the crash), and nothing changes the caller's working directory.

Two sessions choosing ports at the same time are serialized by a file lock held from choosing
the ports until the server answers; the ports are a random block below the ephemeral range.
The server gets ``SIGKILL`` if the process that started it dies (``setpriv --pdeathsig``), so a
crashed test run leaves no server behind.

Usage::

    with MilvusServer(tmp_path / "milvus") as server:
        client = MilvusClient(server.uri)
        ...
        server.restart()          # same ports and data: the URI stays valid
"""

from __future__ import annotations

import contextlib
import lzma
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path

__all__ = ["MilvusServer", "MilvusServerUnavailable", "server_binary_dir", "milvus_package_version", "wait_loaded"]

#: Template keys of the ports Milvus standalone listens on (``milvus/data/config.yaml.template``).
PORT_KEYS = ("proxy_port", "etcd_port", "root_coord_port", "proxy_internal_port", "query_coord_port",
             "query_node_port", "index_coord_port", "index_node_port", "data_coord_port", "data_node_port")
#: Ports chosen per server: the template's, the metrics/health port and the etcd peer port.
N_PORTS = len(PORT_KEYS) + 2
#: Port blocks are chosen in [PORT_LOW, PORT_HIGH): below Linux' ephemeral range (32768-60999),
#: where outgoing connections of other programs never take a port.
PORT_LOW, PORT_HIGH = 20_000, 32_000
#: Seconds a start may take (measured 10-50 s on the busy 2-core machine; first start +8 s unpacking).
START_TIMEOUT = 240.0
#: Seconds the query node may spend handing its segments over on a clean stop (nobody to hand to).
GRACEFUL_STOP_S = 3
#: Seconds a clean stop may take before SIGKILL (see MilvusServer.stop).
STOP_TIMEOUT = 15.0


class MilvusServerUnavailable(RuntimeError):
    """The server binary cannot run here (not Linux x86-64, package missing, binary fails)."""


def milvus_package_version() -> str:
    try:
        import milvus
    except ImportError as exc:
        raise MilvusServerUnavailable("the `milvus` package (embedded Milvus server 2.3.5) is not installed: "
                                      "pip install milvus==2.3.5") from exc
    return milvus.__version__


def _lock(path: Path, timeout: float):
    from filelock import FileLock

    return FileLock(str(path), timeout=timeout)


def server_binary_dir() -> Path:
    """The folder holding the unpacked ``milvus`` binary and its libraries (unpacked on first use).

    One per machine and package version: ``$QA_MILVUS_BIN_DIR`` or
    ``<tempdir>/vnnews-qa-milvus-<version>-bin``. Unpacked into a sibling folder and renamed, under
    a file lock, so that concurrent sessions never see a half-written binary.
    """
    import sys

    if not sys.platform.startswith("linux") or os.uname().machine not in ("x86_64", "AMD64"):
        raise MilvusServerUnavailable(f"the milvus 2.3.5 wheel ships a Linux x86-64 server binary; this is "
                                      f"{sys.platform}/{os.uname().machine}")
    version = milvus_package_version()
    import milvus

    target = Path(os.environ.get("QA_MILVUS_BIN_DIR") or
                  Path(tempfile.gettempdir()) / f"vnnews-qa-milvus-{version}-bin")
    done = target / ".complete"
    if done.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target.parent / (target.name + ".lock"), timeout=600):
        if done.exists():
            return target
        src = Path(milvus.__file__).parent / "data" / "bin"
        tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
        try:
            for packed in sorted(src.glob("*.lzma")):
                out = tmp / packed.name[:-len(".lzma")]
                with lzma.open(packed) as fin, open(out, "wb") as fout:
                    shutil.copyfileobj(fin, fout, 1 << 20)
                out.chmod(0o755)
            (tmp / ".complete").write_text(version)
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _port_free(port: int) -> bool:
    """Nobody listens on ``port`` (any address). SO_REUSEADDR: a port whose old connections are in
    TIME_WAIT (a server just stopped) counts as free, as it is for the Go server that binds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
            return True
        except OSError:
            return False


def _choose_ports(rng: random.Random) -> list[int]:
    for _ in range(200):
        base = rng.randrange(PORT_LOW, PORT_HIGH - N_PORTS)
        ports = list(range(base, base + N_PORTS))
        if all(_port_free(p) for p in ports):
            return ports
    raise RuntimeError(f"no block of {N_PORTS} free ports in [{PORT_LOW}, {PORT_HIGH})")


class MilvusServer:
    """One Milvus 2.3.5 standalone server process with its data under ``base_dir``.

    ``start()`` returns the seconds the start took (the process starting until a client is
    served); ``stop()`` stops it cleanly (SIGTERM, SIGKILL after ``timeout``); ``kill()`` is a
    crash (SIGKILL); ``restart()`` stops and starts it on the same ports and data. ``uri`` is
    what ``pymilvus.MilvusClient`` takes. Usable as a context manager (stops at exit).
    """

    def __init__(self, base_dir: str | os.PathLike, *, start_timeout: float = START_TIMEOUT,
                 seed: int | None = None):
        self.base_dir = Path(base_dir).resolve()
        self.start_timeout = start_timeout
        self.ports: dict[str, int] = {}
        self.proc: subprocess.Popen | None = None
        self.start_seconds: list[float] = []  # every start's duration, in order
        self._rng = random.Random(seed if seed is not None else (os.getpid() << 16) ^ time.time_ns())
        self._finalizer = weakref.finalize(self, _terminate, None)

    # ------------------------------------------------------------------ facts
    @property
    def port(self) -> int:
        return self.ports["proxy_port"]

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def log_dir(self) -> Path:
        return self.base_dir / "logs"

    def log_tail(self, n: int = 40) -> str:
        """The last lines of the server's stderr and stdout (for error messages)."""
        out = []
        for name in ("milvus-stderr.log", "milvus-stdout.log"):
            p = self.log_dir / name
            if p.exists():
                lines = p.read_text(errors="replace").splitlines()[-n:]
                out.append(f"--- {name} ---\n" + "\n".join(lines))
        return "\n".join(out)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> float:
        """Start the server (data kept from an earlier start); seconds until it served a client."""
        if self.running:
            return 0.0
        bin_dir = server_binary_dir()
        t0 = time.perf_counter()
        lock = _lock(Path(tempfile.gettempdir()) / "vnnews-qa-milvus-ports.lock", timeout=self.start_timeout * 2)
        with lock:  # another session choosing ports meanwhile would see these as free
            if not self.ports:
                ports = _choose_ports(self._rng)
                self.ports = dict(zip(PORT_KEYS + ("metrics_port", "etcd_peer_port"), ports))
            else:
                busy = [p for p in self.ports.values() if not _port_free(p)]
                if busy:
                    raise RuntimeError(f"cannot restart Milvus on the same ports: {busy} are taken")
            self._write_config()
            self._launch(bin_dir)
            self._wait_ready(t0)
        took = time.perf_counter() - t0
        self.start_seconds.append(took)
        return took

    def stop(self, timeout: float = STOP_TIMEOUT) -> float:
        """Stop cleanly (SIGTERM; SIGKILL after ``timeout`` s). Returns the seconds it took.

        A clean stop of 2.3.5 usually takes ~3 s, but now and then hangs: the coordinators stop
        first and the nodes keep retrying them (seen > 60 s). Nothing is lost by the SIGKILL
        that follows: acknowledged rows are in the WAL (tests/embeddings/test_milvus_server_smoke.py)."""
        t0 = time.perf_counter()
        proc, self.proc = self.proc, None
        if proc is not None:
            _terminate(proc, timeout)
        self._finalizer.detach()
        return time.perf_counter() - t0

    def kill(self) -> None:
        """Crash the server (SIGKILL, no clean shutdown): what a node failure looks like."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait(10)
        self._finalizer.detach()

    def restart(self, *, crash: bool = False) -> float:
        """Stop (``crash=True``: kill) and start again on the same ports and data; seconds to start."""
        self.kill() if crash else self.stop()
        return self.start()

    def __enter__(self) -> MilvusServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals
    def _write_config(self) -> None:
        """``configs/milvus.yaml`` from the package's template with our ports and folders, plus an
        etcd config file that moves the embedded etcd's client and peer ports."""
        from milvus import MilvusServerConfig

        class _Config(MilvusServerConfig):
            def try_bind_port(self, port):  # ports are ours and probed already (see _port_free)
                return None

            def resolve_all_listen_ports(self):
                for key in PORT_KEYS:
                    self.configurable_items[key][1] = int(self.configs[key])

        cfg = _Config(data_dir=str(self.base_dir), **{k: self.ports[k] for k in PORT_KEYS})
        cfg.resolve()  # writes configs/milvus.yaml under base_dir, makes logs/ and data/
        etcd_cfg = self.base_dir / "configs" / "etcd.yaml"
        client = f"http://127.0.0.1:{self.ports['etcd_port']}"
        peer = f"http://127.0.0.1:{self.ports['etcd_peer_port']}"
        etcd_cfg.write_text(
            "name: default\n"
            f"listen-client-urls: {client}\nadvertise-client-urls: {client}\n"
            f"listen-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\n"
            f"initial-cluster: default={peer}\n", encoding="utf-8")
        yaml_path = self.base_dir / "configs" / "milvus.yaml"
        text = yaml_path.read_text(encoding="utf-8")
        text = text.replace("localhost:", "127.0.0.1:")  # etcd endpoints, index coord address
        # the template has no etcd.config.path line: add it right under `etcd:` (one etcd mapping)
        text = text.replace("\netcd:\n", f"\netcd:\n  config:\n    path: {etcd_cfg}\n", 1)
        # SIGTERM: the query node waits for its segments to move to another query node (there is
        # none) for queryNode.gracefulStopTimeout; without a bound a stop took over 60 s
        text = text.replace("\nqueryNode:\n", f"\nqueryNode:\n  gracefulStopTimeout: {GRACEFUL_STOP_S}\n", 1)
        if f"path: {etcd_cfg}" not in text or f"gracefulStopTimeout: {GRACEFUL_STOP_S}\n" not in text:
            raise RuntimeError("the milvus.yaml template changed: no top-level `etcd:`/`queryNode:` section")
        yaml_path.write_text(text, encoding="utf-8")

    def _launch(self, bin_dir: Path) -> None:
        env = dict(os.environ, DEPLOY_MODE="STANDALONE", METRICS_PORT=str(self.ports["metrics_port"]),
                   MILVUS_RUN_DIR=str(self.base_dir / "run"),
                   LD_LIBRARY_PATH=f"{bin_dir}:{os.environ.get('LD_LIBRARY_PATH', '')}")
        exe = bin_dir / "milvus"
        cmd = [str(exe), "run", "standalone"]
        if shutil.which("setpriv"):  # the server dies with this process, even on a crash
            cmd = ["setpriv", "--pdeathsig", "SIGKILL", "--"] + cmd
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / "milvus-stdout.log", "ab") as out, open(self.log_dir / "milvus-stderr.log", "ab") as err:
            try:
                self.proc = subprocess.Popen(cmd, cwd=self.base_dir, env=env, stdout=out, stderr=err,
                                             stdin=subprocess.DEVNULL)
            except OSError as exc:
                raise MilvusServerUnavailable(f"cannot run {exe}: {exc}") from exc
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _terminate, self.proc, 10.0)

    def _wait_ready(self, t0: float) -> None:
        """Until /healthz says OK and a client can list collections (or the process exits)."""
        health = f"http://127.0.0.1:{self.ports['metrics_port']}/healthz"
        deadline = t0 + self.start_timeout
        healthy = False
        while time.perf_counter() < deadline:
            code = self.proc.poll()
            if code is not None:
                self.proc = None
                msg = f"the Milvus server exited with code {code} while starting:\n{self.log_tail()}"
                if code in (126, 127) or code < 0 and -code in (signal.SIGILL, signal.SIGSEGV):
                    raise MilvusServerUnavailable(msg)
                raise RuntimeError(msg)
            if not healthy:
                with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                    with urllib.request.urlopen(health, timeout=2) as resp:
                        healthy = b"OK" in resp.read()
            if healthy and self._client_ok():
                return
            time.sleep(0.2)
        self.kill()
        raise TimeoutError(f"Milvus did not start in {self.start_timeout:.0f} s:\n{self.log_tail()}")

    def _client_ok(self) -> bool:
        try:
            from pymilvus import MilvusClient
        except ImportError:  # the health check alone
            return True
        try:
            c = MilvusClient(self.uri, timeout=5)
        except Exception:  # noqa: BLE001 - not serving yet
            return False
        try:
            c.list_collections()
            return True
        except Exception:  # noqa: BLE001
            return False
        finally:
            with contextlib.suppress(Exception):
                c.close()


def wait_loaded(client, names, timeout: float = 120.0) -> float:
    """Wait until each collection of ``names`` is Loaded (after a restart Milvus loads the
    collections that were loaded before by itself, in 0-3 s here; until then a search or query
    fails with code 101 "collection not loaded"). Returns the seconds waited."""
    t0 = time.perf_counter()
    pending = list(names)
    while pending:
        state = str(client.get_load_state(pending[0]).get("state"))
        if state.endswith("Loaded"):
            pending.pop(0)
            continue
        if state.endswith("NotLoad"):
            client.load_collection(pending.pop(0))
            continue
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"collection {pending[0]!r} not loaded after {timeout:.0f} s (state {state})")
        time.sleep(0.2)
    return time.perf_counter() - t0


def _terminate(proc: subprocess.Popen | None, timeout: float = 60.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)

