"""What stops a start, said plainly; and the session key: kept in embedded mode, required and
strong in production."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from base.secret import WeakSecretKey, check_secret_key, with_secret_key
from base.settings import Settings
from tests.test_end_to_end import free_port
from vigie import stack


def run_up(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    full.pop("DATABASE_URL", None)
    full.update(VIGIE_VAR_DIR=str(tmp_path / "var"), **env)
    return subprocess.run(
        [sys.executable, "-m", "vigie", "up", "--no-demo"],
        env=full, capture_output=True, text=True, timeout=60,
    )


def test_a_taken_router_wake_port_stops_the_start_with_its_setting(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        done = run_up(
            tmp_path,
            VIGIE_ROUTER_WAKE_PORT=str(port),
            VIGIE_CONSOLE_PORT=str(free_port()),
            VIGIE_SMTP_PORT=str(free_port()),
            VIGIE_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
            VIGIE_TEMPORAL_UI_PORT=str(free_port()),
        )
    assert done.returncode == 1
    assert f"127.0.0.1:{port} (UDP" in done.stderr and "VIGIE_ROUTER_WAKE_PORT" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_taken_port_stops_the_start_with_the_port_and_its_setting(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_up(
            tmp_path,
            VIGIE_CONSOLE_PORT=str(port),
            VIGIE_SMTP_PORT=str(free_port()),
            VIGIE_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
            VIGIE_TEMPORAL_UI_PORT=str(free_port()),
        )
    assert done.returncode == 1
    assert f"127.0.0.1:{port}" in done.stderr and "VIGIE_CONSOLE_PORT" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "var" / "vigie.sqlite3").exists()  # nothing was started


def test_no_temporal_binary_is_said_in_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(stack.CannotStart, match="binaire 'temporal' est introuvable"):
        stack.temporal_binary()


def test_embedded_mode_generates_the_key_once_in_var_and_keeps_it(tmp_path: Path) -> None:
    first = with_secret_key(Settings(var_dir=tmp_path / "var"))
    key_file = tmp_path / "var" / "secret-key"
    assert len(first.secret_key) >= 32
    assert key_file.stat().st_mode & 0o777 == 0o600
    again = with_secret_key(Settings(var_dir=tmp_path / "var"))
    assert again.secret_key == first.secret_key  # a restart keeps everyone signed in
    check_secret_key(first)


def test_a_key_from_the_environment_wins_and_no_file_is_written(tmp_path: Path) -> None:
    given = "x" * 8 + "abcdefghijklmnopqrstuvwxyz012345"
    s = with_secret_key(Settings(var_dir=tmp_path, secret_key=given))
    assert s.secret_key == given
    assert not (tmp_path / "secret-key").exists()


@pytest.mark.parametrize(
    "settings",
    [
        Settings(env="production"),
        Settings(database_url="postgresql://desk@db/vigie"),
    ],
    ids=["VIGIE_ENV=production", "DATABASE_URL"],
)
def test_production_refuses_to_start_without_a_key(settings: Settings, tmp_path: Path) -> None:
    assert with_secret_key(settings).secret_key == ""  # never generated outside embedded mode
    with pytest.raises(WeakSecretKey, match="VIGIE_SECRET_KEY est requis"):
        check_secret_key(settings)


@pytest.mark.parametrize("key", ["k", "short-key-of-20-char", "a" * 40])
def test_production_refuses_a_weak_key(key: str) -> None:
    with pytest.raises(WeakSecretKey, match="trop faible"):
        check_secret_key(Settings(env="production", secret_key=key))


def test_production_accepts_a_strong_key() -> None:
    import secrets

    check_secret_key(Settings(env="production", secret_key=secrets.token_urlsafe(48)))


def test_a_production_service_does_not_start_on_a_weak_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env.update(VIGIE_ENV="production", VIGIE_SECRET_KEY="1", VIGIE_VAR_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "vigie", "console"], env=env, capture_output=True, text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "VIGIE_SECRET_KEY est trop faible" in done.stderr
