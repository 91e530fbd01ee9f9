"""docs/deployment.md, run: every block of the guide is run or checked by a test here.

Each fenced block of the guide is named in its info string (```sh install, ```nginx nginx). A
test takes a block with ``block(NAME)``, swaps only the example names the guide says are
examples (hosts, ports, folders, placeholders; each swap is written out where it is made) and
runs it. The meta-test fails when a block has no name or no test takes it. A block marked
``migrations`` runs ``chinwag db`` (the schema migrations); the test checks it has such a line.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import sqlalchemy as sa
import websockets
import yaml

from chinwag.testing import POSTGRES_VARIABLE, free_port

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "deployment.md"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
ENV = "chinwag-env"  # the guide's virtual environment, relative to the folder the commands run in


@attrs.frozen
class Block:
    """One fenced block of the guide."""

    language: str
    name: str
    markers: tuple[str, ...]
    text: str

    def swapped(self, swaps: Mapping[str, str]) -> str:
        """The text with each example name swapped for the test's (each must occur)."""
        text = self.text
        for old, new in swaps.items():
            assert old in text, f"block {self.name} no longer says {old!r}: update the swap"
            text = text.replace(old, new)
        return text


def blocks() -> dict[str, Block]:
    """Every fenced block of the guide, by name."""
    found: dict[str, Block] = {}
    for info, text in FENCE.findall(GUIDE.read_text()):
        words = info.split()
        assert len(words) >= 2, f"a block of the guide has no name: ```{info}\n{text[:80]}"
        assert words[1] not in found, f"two blocks are named {words[1]}"
        found[words[1]] = Block(words[0], words[1], tuple(words[2:]), text)
    return found


def block(name: str) -> Block:
    """The guide's block ``name``."""
    return blocks()[name]


def db_lines(shell: Block, swaps: Mapping[str, str] | None = None) -> list[str]:
    """The ``chinwag db`` lines of a block marked ``migrations`` (there is at least one), swapped."""
    assert "migrations" in shell.markers, f"block {shell.name} is not marked migrations"
    lines = [line for line in shell.swapped(swaps or {}).splitlines() if re.search(r"\bchinwag db\b", line)]
    assert lines, f"block {shell.name} is marked migrations but runs no chinwag db command"
    return lines


def sh(script: str, cwd: Path, env: Mapping[str, str], timeout: float = 600) -> str:
    """Run a block's commands with bash (stopping at the first failure); their output."""
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=dict(env), capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{script}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def base_env(folder: Path, **extra: str) -> dict[str, str]:
    """The environment the guide's commands run in: none of the tests' CHINWAG_* switches."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CHINWAG_", "PYTEST_"))}
    return {**env, "HOME": str(folder), **extra}


def test_every_block_of_the_guide_is_run_by_a_test() -> None:
    found = blocks()
    fences = GUIDE.read_text().count("\n```") // 2
    assert len(found) == fences, "every block of the guide is named"
    taken = set(re.findall(r'block\("([\w-]+)"\)', Path(__file__).read_text()))
    assert set(found) <= taken, f"blocks no test runs: {sorted(set(found) - taken)}"
    assert all(set(shell.markers) <= {"migrations"} for shell in found.values())


# -- 1. install, and the upgrade's pip line -------------------------------------------------------

def dependency_folder(into: Path) -> Path:
    """This environment's installed distributions but chinwag's own, linked into one folder: a
    new environment that adds it to its path needs no index for chinwag's dependencies."""
    into.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        name = entry.name.lower()
        if "chinwag" in name or "__editable__" in name or name.startswith(("pip", "_distutils_hack", "__pycache__")) \
                or name.endswith(".pth"):
            continue
        (into / entry.name).symlink_to(entry)
    return into


def test_install_and_upgrade_run_offline_against_wheels_of_this_repository(tmp_path: Path) -> None:
    wheels, sources = tmp_path / "wheelhouse", tmp_path / "sources"
    left_behind = shutil.ignore_patterns(".venv*", ".git", "build", "dist", "*.egg-info", "__pycache__", "*.db*")
    shutil.copytree(REPO / "core", sources / "chinwag" / "core", ignore=left_behind)  # built away from the checkout
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, sources / "chinwag" / name)
    shutil.copytree(REPO / "plugins" / "google_calendar", sources / "google_calendar", ignore=left_behind)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "--wheel-dir", str(wheels), str(sources / "chinwag"), str(sources / "google_calendar")],
                           capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    deps = dependency_folder(tmp_path / "deps")
    install = block("install")
    first, rest = install.text.split("\n", 1)
    assert first == f"python3 -m venv {ENV}"
    # pip finds chinwag and its plugin among the wheels, and the dependencies already installed
    # (an index holds them all for an operator); python3 is this test's interpreter.
    env = base_env(tmp_path, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels), PIP_DISABLE_PIP_VERSION_CHECK="1",
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    sh(first, tmp_path, env)
    purelib = subprocess.run([str(tmp_path / ENV / "bin" / "python"), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "dependencies.pth").write_text(f"{deps}\n")
    output = sh(rest, tmp_path, env)
    listing = json.loads(output[output.index("\n[") + 1:])  # pip's lines, then chinwag plugins' JSON
    assert "chinwag-google-calendar" in {plugin["name"] for plugin in listing}
    installed = sh(f"{ENV}/bin/python -c 'import chinwag, chinwag_google_calendar; print(chinwag.__file__)'",
                   tmp_path, env)
    assert installed.startswith(str(tmp_path / ENV))  # from the wheels, not this checkout
    pip_line = [line for line in block("upgrade").text.splitlines() if line not in db_lines(block("upgrade"))]
    sh("\n".join(pip_line) + "\n", tmp_path, env)  # its chinwag db line runs on the guide's database, below


# -- 2. PostgreSQL to serving, behind nginx with TLS; metrics, rotation, backups, systemd ----------

@pytest.fixture
def postgres_server() -> dict[str, Any]:
    """Where the tests' PostgreSQL server listens, and its superuser (from CHINWAG_TEST_POSTGRES_URL)."""
    base = os.environ.get(POSTGRES_VARIABLE)
    if not base:
        pytest.fail(f"{POSTGRES_VARIABLE} must be set: the guide runs on PostgreSQL")
    url = sa.make_url(base)
    return {"host": url.host or "127.0.0.1", "port": url.port or 5432, "user": url.username or "postgres"}


@pytest.fixture
def guide_database(postgres_server: dict[str, Any]) -> Iterator[str]:
    """A role and database name of the test's own for the guide's ``chinwag`` (dropped afterwards)."""
    name = f"chinwag_guide_{secrets.token_hex(4)}"
    yield name
    admin = ["psql", "-v", "ON_ERROR_STOP=1", f"--host={postgres_server['host']}", f"--port={postgres_server['port']}",
             f"--username={postgres_server['user']}", "--dbname=postgres"]
    subprocess.run([*admin, "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], capture_output=True, timeout=60)
    subprocess.run([*admin, "-c", f'DROP ROLE IF EXISTS "{name}"'], capture_output=True, timeout=60)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and chat.acme.example, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chat.acme.example")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("chat.acme.example"),
                                                              x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    cert, private = folder / "fullchain.pem", folder / "privkey.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, private


def start(command: str, cwd: Path, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A long-running command of the guide, in the background, its output to ``log``."""
    with log.open("ab") as output:
        return subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=cwd, env=dict(env), stdout=output,
                                stderr=subprocess.STDOUT)


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became healthy:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 90) -> int:
    process.send_signal(sig)
    return process.wait(timeout)


async def greeted(port: int, origin: str, context: ssl.SSLContext) -> dict[str, Any]:
    """Say hello through the proxy over wss://; the welcome."""
    async with websockets.connect(f"wss://127.0.0.1:{port}/ws", ssl=context, origin=origin) as socket:
        await socket.send(json.dumps({"type": "hello", "protocol": 1, "page": {"url": "https://www.acme.example/"}}))
        while True:
            frame = json.loads(await socket.recv())
            if frame["type"] in ("welcome", "error"):
                return frame


async def test_the_guide_from_postgresql_to_serving_behind_nginx(  # noqa: PLR0915 - the guide, in its order
        tmp_path: Path, postgres_server: dict[str, Any], guide_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path
    (work / ENV).symlink_to(sys.prefix)  # the guide's environment: this one, which has chinwag installed
    project = work / "srv-chinwag"
    host, port, name = postgres_server["host"], postgres_server["port"], guide_database
    env = base_env(work)

    # 2. PostgreSQL: the guide's role and database, under a name of this test's own.
    sh(block("postgres").swapped({"--host=db.internal": f"--host={host} --port={port}",
                                  "--username=postgres": f"--username={postgres_server['user']}",
                                  "ROLE chinwag ": f"ROLE {name} ",
                                  "DATABASE chinwag OWNER chinwag": f"DATABASE {name} OWNER {name}"}), work, env)

    # 3. The secrets, the environment file, the project.
    key, token = sh(block("secrets").text, work, env).split()
    assert len(key) == 44 and len(token) >= 32
    environment = block("environment").swapped({
        "chinwag:change-me@db.internal/chinwag": f"{name}:change-me@{host}:{port}/{name}",
        "the-key-the-first-command-printed": key, "the-token-the-second-command-printed": token})
    (work / "env").write_text(environment)
    settings = dict(line.split("=", 1) for line in environment.splitlines() if line.strip())
    env = {**env, **settings}
    project.mkdir()
    (project / "chinwag.yaml").write_text(block("project").text)
    (project / "dialogues").mkdir()
    (project / "dialogues" / "welcome.yaml").write_text(yaml.safe_dump({"id": "welcome", "name": "Welcome", "cards": [
        {"id": "interest", "type": "question", "text": "What brings you here?",
         "buttons": [{"label": "A demo", "value": "demo"}, {"label": "Browsing", "value": "browsing"}]},
        {"id": "bye", "type": "end", "text": "Thanks!"}]}))
    assert "ok, 1 dialogue" in sh(f"{ENV}/bin/chinwag validate {project}", work, env)

    # 4. The schema first: serve refuses an empty database in one line, then the guide's upgrade and check.
    chat_port, metrics_port = free_port(), free_port()
    serving = {"/srv/chinwag": str(project), "--port 8000": f"--port {chat_port}",
               "127.0.0.1:9108": f"127.0.0.1:{metrics_port}"}
    refused = subprocess.run(["bash", "-c", block("serve").swapped(serving)], cwd=work, env=env, capture_output=True,
                             text=True, timeout=180)
    assert refused.returncode == 1, refused.stderr
    refusal = refused.stderr.strip().splitlines()[-1]  # one plain line, after the JSON log lines
    assert refusal.startswith("the database schema is behind this chinwag (chinwag: none < ")
    assert refusal.endswith(f"run: chinwag db upgrade --project {project}")
    schema = sh(block("schema").swapped({"/srv/chinwag": str(project)}), work, env)
    assert "chinwag: none -> " in schema and "the database matches the declared schema" in schema

    # 4. Serving, as the guide says, on ports of this test's own.
    serve_log = work / "serve.log"
    server = start(block("serve").swapped(serving).strip(), work, env, serve_log)
    try:
        wait_healthy(f"http://127.0.0.1:{chat_port}", server, serve_log)

        # 5. nginx in front, with TLS: wss:// reaches the chat, and chinwag sees https (its own origin works).
        cert, private = self_signed(work)
        https_port, http_port = free_port(), free_port()
        site = block("nginx").swapped({
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{chat_port};",
            "listen 80;": f"listen 127.0.0.1:{http_port};", "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
            "/etc/letsencrypt/live/chat.acme.example/fullchain.pem": str(cert),
            "/etc/letsencrypt/live/chat.acme.example/privkey.pem": str(private)})
        (work / "site.conf").write_text(site)
        (work / "logs").mkdir()
        (work / "nginx.conf").write_text(
            f"daemon off;\npid {work}/nginx.pid;\nerror_log {work}/logs/error.log;\nevents {{}}\n"
            f"http {{\n  access_log off;\n  client_body_temp_path {work}/body;\n  proxy_temp_path {work}/proxy;\n"
            f"  fastcgi_temp_path {work}/fastcgi;\n  uwsgi_temp_path {work}/uwsgi;\n  scgi_temp_path {work}/scgi;\n"
            f"  include {work}/site.conf;\n}}\n")
        checked = subprocess.run(["nginx", "-t", "-p", str(work), "-c", str(work / "nginx.conf")],
                                 capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stderr
        nginx = subprocess.Popen(["nginx", "-p", str(work), "-c", str(work / "nginx.conf")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            context = ssl.create_default_context(cafile=str(cert))
            for _ in range(100):
                try:
                    answer = httpx.get(f"https://127.0.0.1:{https_port}/healthz", verify=context, timeout=5)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            assert answer.status_code == 200
            plain = httpx.get(f"http://127.0.0.1:{http_port}/widget.js", timeout=5)
            assert plain.status_code == 301 and plain.headers["location"] == "https://127.0.0.1/widget.js"
            welcome = await greeted(https_port, "https://www.acme.example", context)  # an allowed site
            assert welcome["type"] == "welcome" and welcome["dialogue"]["id"] == "welcome"
            # The server's own origin is https://127.0.0.1 only because nginx said X-Forwarded-Proto: https.
            assert (await greeted(https_port, "https://127.0.0.1", context))["type"] == "welcome"
            metrics = httpx.get(f"https://127.0.0.1:{https_port}/-/metrics", verify=context, timeout=10,
                                headers={"Authorization": f"Bearer {token}"})
            assert metrics.status_code == 200 and 'chinwag_turns_total{frame="hello"} 2.0' in metrics.text
        finally:
            nginx.terminate()
            nginx.wait(30)

        # 11. The scrape configuration reaches the metrics; every metric the alerts use is exported.
        scrape = yaml.safe_load(block("prometheus").swapped({"127.0.0.1:9108": f"127.0.0.1:{metrics_port}"}))
        job = scrape["scrape_configs"][0]
        exported = httpx.get(f"http://{job['static_configs'][0]['targets'][0]}{job['metrics_path']}", timeout=10).text
        assert re.search(r"^chinwag_turns_total\{", exported, re.MULTILINE)
        rules = yaml.safe_load(block("alerts").text)["groups"][0]["rules"]
        used = {metric for rule in rules for metric in re.findall(r"\bchinwag_\w+", rule["expr"])}
        from chinwag.metrics import Metrics

        declared = {sample.name for family in Metrics().registry.collect() for sample in family.samples} | {
            f"{family.name}{suffix}" for family in Metrics().registry.collect()
            for suffix in ("", "_total", "_bucket", "_count", "_sum")}
        assert used and used <= declared, f"the alerts name metrics chinwag does not export: {used - declared}"
    finally:
        exit_code = stop(server)
    assert exit_code in (0, -signal.SIGTERM), serve_log.read_text()  # one process ends on the signal it was sent
    assert all(json.loads(line) for line in serve_log.read_text().splitlines() if line.strip())  # --log-format json

    # 3. Rotating the secret key: tokens stored with the old key, rewritten with the new one.
    await _store_agent_tokens(project, env, monkeypatch)
    new_key = sh(block("secrets").text.splitlines()[0], work, env).strip()
    rotated = sh(block("rotate").swapped({"/srv/chinwag": str(project)}), work, {**env, "NEW_KEY": new_key,
                                                                                  "OLD_KEY": key})
    assert '{"rekeyed": 1}' in rotated and "ada@acme.example" in rotated
    stored = await _stored_credentials(env["CHINWAG_DATABASE_URL"])
    from chinwag.credentials import Credentials, CredentialsUnreadable

    assert Credentials(new_key).decrypt(stored) == {"access_token": "at-1", "refresh_token": "rt-1"}
    with pytest.raises(CredentialsUnreadable):
        Credentials(key).decrypt(stored)

    # 9. Backups: a dump, rows lost, the restore brings them back.
    backup = block("backup").swapped({
        "postgresql://chinwag:change-me@db.internal/chinwag": f"postgresql://{name}:change-me@{host}:{port}/{name}"})
    dump, restore = backup.strip().splitlines()
    sh(dump, work, env)
    before = await _count(env["CHINWAG_DATABASE_URL"], "transcript")
    assert before > 0
    await _execute(env["CHINWAG_DATABASE_URL"], "DELETE FROM transcript")
    sh(restore, work, env)
    assert await _count(env["CHINWAG_DATABASE_URL"], "transcript") == before

    # 10. Upgrading: the schema step of the upgrade finds the restored database at head.
    for line in db_lines(block("upgrade"), {"/srv/chinwag": str(project)}):
        assert re.search(r"^chinwag: \w+ \(at head\)$", sh(line, work, env), re.MULTILINE)

    # 6. The systemd unit: verified, then its ExecStart run, reloaded (SIGHUP) and stopped (SIGTERM).
    unit = block("systemd").swapped({"/opt/chinwag": sys.prefix, "/srv/chinwag": str(project),
                                     "/etc/chinwag/env": str(work / "env"), "--port 8000": f"--port {chat_port}",
                                     "127.0.0.1:9108": f"127.0.0.1:{metrics_port}"})
    (work / "chinwag.service").write_text(unit)
    if shutil.which("systemd-analyze"):
        verified = subprocess.run(["systemd-analyze", "verify", str(work / "chinwag.service")], capture_output=True,
                                  text=True, timeout=60)
        assert verified.returncode == 0, verified.stderr
    service = _unit(unit)
    assert service["KillSignal"] == "SIGTERM" and service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    unit_log = work / "unit.log"
    started = start(service["ExecStart"], Path(service["WorkingDirectory"]), env, unit_log)
    try:
        wait_healthy(f"http://127.0.0.1:{chat_port}", started, unit_log)
        sh(service["ExecReload"], work, {**env, "MAINPID": str(started.pid)})
        deadline = time.monotonic() + 120
        while unit_log.read_text().count("replaced by worker") < 2:
            assert time.monotonic() < deadline, unit_log.read_text()
            time.sleep(0.2)
        assert (await greeted_plain(chat_port))["type"] == "welcome"
    finally:
        exit_code = stop(started, getattr(signal, service["KillSignal"]), float(service["TimeoutStopSec"]))
    assert exit_code == 0, unit_log.read_text()


async def greeted_plain(port: int) -> dict[str, Any]:
    """Say hello straight to chinwag (its own origin); the welcome."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", origin=f"http://127.0.0.1:{port}") as socket:
        await socket.send(json.dumps({"type": "hello", "protocol": 1, "page": {"url": "https://www.acme.example/"}}))
        while True:
            frame = json.loads(await socket.recv())
            if frame["type"] in ("welcome", "error"):
                return frame


def _unit(text: str) -> dict[str, str]:
    """The [Service] settings of a unit file."""
    section, settings = None, {}
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and section == "Service":
            key, value = line.split("=", 1)
            settings[key] = value
    return settings


async def _store_agent_tokens(project: Path, env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Ada's calendar tokens, stored as a connected calendar stores them (with the key in ``env``)."""
    from chinwag.app import Chinwag
    from chinwag.meetings.agent_state import store_tokens

    for variable in ("CHINWAG_DATABASE_URL", "CHINWAG_SECRET_KEY", "CHINWAG_ADMIN_TOKEN", "GOOGLE_CLIENT_ID",
                     "GOOGLE_CLIENT_SECRET"):
        monkeypatch.setenv(variable, env[variable])
    app = Chinwag.from_project(project)
    await app.start()
    try:
        await store_tokens(app, "ada@acme.example", "google", {"access_token": "at-1", "refresh_token": "rt-1"})
    finally:
        await app.stop()


async def _stored_credentials(url: str) -> str:
    from chinwag.meetings.tables import agents

    return str(await _scalar(url, sa.select(agents.c.credentials).where(agents.c.email == "ada@acme.example")))


async def _count(url: str, table: str) -> int:
    return int(await _scalar(url, sa.text(f"SELECT count(*) FROM {table}")))  # noqa: S608 (fixed names)


async def _scalar(url: str, query: Any) -> Any:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(query)).scalar()
    finally:
        await engine.dispose()


async def _execute(url: str, statement: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


# -- Caddy -------------------------------------------------------------------------------------

def test_the_caddyfile_is_valid_and_proxies_to_chinwag_with_its_health_check(tmp_path: Path) -> None:
    (tmp_path / "Caddyfile").write_text(block("caddy").text)
    # Caddy keeps its state under XDG folders; validating obtains no certificate and opens no port.
    env = base_env(tmp_path, XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    validated = subprocess.run(["caddy", "validate", "--config", "Caddyfile", "--adapter", "caddyfile"], cwd=tmp_path,
                               env=env, capture_output=True, text=True, timeout=120)
    assert validated.returncode == 0 and "Valid configuration" in validated.stdout + validated.stderr, validated.stderr
    adapted = subprocess.run(["caddy", "adapt", "--config", "Caddyfile"], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=120)
    config = json.loads(adapted.stdout)
    [server] = config["apps"]["http"]["servers"].values()
    assert server["routes"][0]["match"] == [{"host": ["chat.acme.example"]}]
    proxy = [handler for route in server["routes"][0]["handle"][0]["routes"] for handler in route["handle"]
             if handler["handler"] == "reverse_proxy"][0]
    assert proxy["upstreams"] == [{"dial": "127.0.0.1:8000"}]
    assert proxy["health_checks"]["active"]["uri"] == "/healthz"
    assert proxy["flush_interval"] == -1  # replies are not held back
