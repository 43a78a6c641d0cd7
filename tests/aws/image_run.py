"""How SageMaker starts a training container, for the harness to run a built image the same way.

SageMaker runs `docker run <TrainingImage> train` as root on the instance, with /opt/ml (config, input
channels, model, output, checkpoints) mounted from the instance's volume and the request's Environment
set; credentials come from the instance role (here: the moto server's test keys and endpoint, reached on
the loopback with the host's network). The image's entrypoint drops to its own user (GS_RUN_AS).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gs_stages.sagemaker_entry import WORK_DIR_ENV

WORK_DIR = "gs-work"  # the entrypoint's default work dir under /opt/ml (GS_WORK_DIR unset)


# podman's runc may not raise a container's open-files and processes limits to its own defaults where the host's
# hard limits are lower (this VM: "error setting rlimit type 7: operation not permitted"); limits at or under
# the host's start. Docker keeps the daemon's.
PODMAN_LIMITS = ("--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096")


@dataclass(frozen=True)
class ImageRun:
    image: str
    docker: str = "docker"  # the engine's client: docker, or podman (no second copy of a big image in Docker)

    def run(self) -> list[str]:
        """The engine's `run`, with what it needs on this host."""
        return [self.docker, "run", *(PODMAN_LIMITS if Path(self.docker).name == "podman" else ())]

    def command(self, name: str, opt_ml: Path, env: dict[str, str]) -> list[str]:
        """`docker run` of one container start; `name` lets a stop reach it (the client proxies SIGTERM)."""
        if WORK_DIR_ENV in env:
            raise ValueError(f"{WORK_DIR_ENV} is the launcher's to leave unset: the image keeps work under /opt/ml")
        command = [*self.run(), "--rm", "--name", name, "--network", "host", "-v", f"{opt_ml}:/opt/ml"]
        for key, value in sorted(env.items()):
            command += ["-e", f"{key}={value}"]
        return [*command, self.image, "train"]

    def fresh_disk(self, opt_ml: Path) -> None:
        """A restarted container starts without the previous one's work dir (SageMaker: a new instance)."""
        shutil.rmtree(opt_ml / WORK_DIR, ignore_errors=True)

    def kill(self, name: str) -> None:
        """Kill a container still running (a failed test must not leave one training on)."""
        subprocess.run([self.docker, "kill", name], capture_output=True)

    def available(self) -> str | None:
        """None when Docker runs and holds the image, else why not (the test's skip reason)."""
        if shutil.which(self.docker) is None:
            return f"no {self.docker} client on PATH"
        probe = subprocess.run([self.docker, "image", "inspect", self.image], capture_output=True, text=True)
        if probe.returncode != 0:
            return f"{self.image}: {probe.stderr.strip()[:200]} (build it: infra/image/build_local.sh)"
        return None


def built_image() -> ImageRun:
    """The image the slow tests run: GS_TEST_IMAGE, default the CPU-only variant build_local.sh makes, in the engine
    GS_TEST_ENGINE names (docker; podman runs an image build_local.sh left in podman's storage, DOCKER_LOAD=0)."""
    image = os.environ.get("GS_TEST_IMAGE", "gs-dagster-trainer:local-none")
    return ImageRun(image, os.environ.get("GS_TEST_ENGINE", "docker"))
