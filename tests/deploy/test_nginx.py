"""deploy/nginx.conf.example: what each server block forwards, with which Host, and that Debian's nginx accepts it."""

from __future__ import annotations

import datetime
import shutil
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.deploy.nginx_config import Directive, parse

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "nginx.conf.example"
NODE_PORT, UI_PORT, ADMIN_PORT = "8470", "8471", "8472"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def servers(text: str) -> tuple[Directive, Directive]:
    """The federation server block and the web interface's, told apart by the port they forward to."""
    blocks = parse(text).find("server")
    assert len(blocks) == 2, "two server blocks: the federation endpoints and the web interface"
    federation = [b for b in blocks if any(NODE_PORT in p.args[0] for p in b.walk("proxy_pass"))]
    ui = [b for b in blocks if any(UI_PORT in p.args[0] for p in b.walk("proxy_pass"))]
    assert len(federation) == 1, "one block forwards to the node"
    assert len(ui) == 1, "another forwards to the web interface"
    return federation[0], ui[0]


def forwarding(block: Directive) -> list[Directive]:
    """The location blocks in `block` that forward (proxy_pass)."""
    return [location for location in block.walk("location") if location.find("proxy_pass")]


def sets_host(location: Directive) -> bool:
    """Whether the location passes the name the client asked for as Host."""
    return any(header.args == ["Host", "$host"] for header in location.find("proxy_set_header"))


def check_example(text: str) -> None:
    """Everything the example must do; an AssertionError says what it does not."""
    federation, ui = servers(text)
    for location in forwarding(federation) + forwarding(ui):
        assert sets_host(location), f"location {' '.join(location.args)} (line {location.line}) does not set Host"
    forwarded = {" ".join(location.args): location for location in forwarding(federation)}
    assert set(forwarded) == {"= /.well-known/praevnet", "/fed/"}, f"the federation block forwards {set(forwarded)}"
    for location in forwarded.values():
        assert location.find("proxy_pass")[0].args == [f"http://127.0.0.1:{NODE_PORT}"], "forward the path unchanged"
    catch_all = [loc for loc in federation.find("location") if loc.args == ["/"]]
    assert catch_all, "a catch-all location on the federation name"
    assert catch_all[0].find("return")[0].args == ["404"], "everything else on the federation name: 404"
    assert federation.find("client_max_body_size")[0].args == ["1m"]
    assert not any(UI_PORT in p.args[0] for p in federation.walk("proxy_pass")), "no web interface for peers"
    for block in (federation, ui):
        assert not any(ADMIN_PORT in p.args[0] for p in block.walk("proxy_pass")), "the admin address stays local"
    assert federation.find("server_name")[0].args != ui.find("server_name")[0].args, "the web interface: its own name"
    assert ui.find("deny") == [] or ui.find("deny")[0].args == ["all"], "the web interface: only the office network"
    assert ui.find("allow"), "the web interface: only the office network"
    ui_location = forwarding(ui)[0]
    assert any(h.args == ["X-Forwarded-For", "$remote_addr"] for h in ui_location.find("proxy_set_header"))


def test_every_forwarded_location_sets_host_and_each_audience_has_its_own_block() -> None:
    check_example(EXAMPLE.read_text(encoding="utf-8"))


def test_the_check_finds_a_location_without_host() -> None:
    forwarded = "proxy_pass http://127.0.0.1:8470;"
    text = EXAMPLE.read_text(encoding="utf-8")
    broken = text.replace(f"{forwarded}\n        proxy_set_header Host $host;", forwarded, 1)
    with pytest.raises(AssertionError, match="does not set Host"):
        check_example(broken)


def test_the_federation_name_is_the_host_of_the_example_node_url() -> None:
    federation, _ = servers(EXAMPLE.read_text(encoding="utf-8"))
    config = tomllib.loads((ROOT / "deploy" / "praevnet.toml.example").read_text(encoding="utf-8"))
    assert federation.find("server_name")[0].args == [urlsplit(config["node"]["url"]).hostname]


def test_the_reader_refuses_unbalanced_braces() -> None:
    with pytest.raises(ValueError, match="ends inside a block"):
        parse("server { location / { return 404; }")
    with pytest.raises(ValueError, match="unexpected"):
        parse("server { } }")


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A throwaway certificate and key for `name`, written into `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def nginx_test(tmp_path: Path, site: str) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on `site` (the example, its certificates replaced by throwaway ones) inside a minimal nginx.conf."""
    assert NGINX is not None
    for name in ("praevnet", "praevnet-intern"):
        cert, key = self_signed(tmp_path, name)
        site = site.replace(f"/etc/ssl/certs/{name}.pem", str(cert)).replace(f"/etc/ssl/private/{name}.key", str(key))
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    temp = " ".join(
        f"{kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    http = f"access_log off; {temp} include {tmp_path / 'site.conf'};"
    main = f"pid {tmp_path / 'nginx.pid'};\nevents {{}}\nhttp {{ {http} }}\n"
    (tmp_path / "nginx.conf").write_text(main, encoding="utf-8")
    error_log = tmp_path / "error.log"
    return subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-e", str(error_log), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.skipif(NGINX is None, reason="Debian's nginx is not installed (apt-get install nginx)")
def test_nginx_accepts_the_example(tmp_path: Path) -> None:
    proc = nginx_test(tmp_path, EXAMPLE.read_text(encoding="utf-8"))
    assert proc.returncode == 0, proc.stderr
    assert "test is successful" in proc.stderr


@pytest.mark.skipif(NGINX is None, reason="Debian's nginx is not installed (apt-get install nginx)")
def test_nginx_t_refuses_a_broken_site(tmp_path: Path) -> None:
    broken = EXAMPLE.read_text(encoding="utf-8").replace("proxy_set_header Host $host;", "proxy_set_header Host;", 1)
    proc = nginx_test(tmp_path, broken)
    assert proc.returncode != 0
    assert "invalid number of arguments" in proc.stderr
