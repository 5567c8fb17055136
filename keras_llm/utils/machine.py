"""What machine a benchmark or result file was measured on (written into every result file)."""
import importlib.metadata
import os
import platform


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or "unknown" where there is none."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_info(**extra) -> dict:
    """Platform, CPU count and model, Python/TensorFlow versions and the current load average.

    The load average matters: this project's machines are shared, so every result records how
    busy the machine was. `extra` adds script-specific facts (e.g. library versions).
    """
    info = {"platform": platform.platform(), "cpu_count": os.cpu_count(),
            "cpu_model": cpu_model(), "python": platform.python_version(),
            "tensorflow": _version("tensorflow"),
            "load_average": [round(x, 2) for x in os.getloadavg()]}
    info.update(extra)
    return info
