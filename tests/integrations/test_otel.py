"""integrations/otel.py: which endpoint the standard variables and the config give, the resource's
service name, and a missing SDK (one warning, no meter)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from acme_ci_budget.integrations.otel import resolve_endpoint


def test_the_endpoint_follows_the_exporter_specification_order() -> None:
    assert resolve_endpoint(None, {}) is None
    assert resolve_endpoint("http://cfg:4318", {}) == "http://cfg:4318/v1/metrics"
    assert resolve_endpoint("http://cfg:4318/", {}) == "http://cfg:4318/v1/metrics"
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://env:4318/otlp"}
    assert resolve_endpoint("http://cfg:4318", base) == "https://env:4318/otlp/v1/metrics"
    signal = {**base, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://m:9/custom"}
    assert resolve_endpoint(None, signal) == "https://m:9/custom"  # used as given, no path appended
    assert resolve_endpoint("http://cfg:4318", {**signal, "OTEL_SDK_DISABLED": "TRUE"}) is None


def _run(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", **env}, timeout=60)


def test_the_service_name_comes_from_the_environment_before_the_config() -> None:
    script = """
        from acme_ci_budget.integrations.otel import OtlpSettings, open_meter
        handle = open_meter(OtlpSettings("http://127.0.0.1:9/v1/metrics", service_name="from-config"), "s", "1", "")
        print(handle.provider._sdk_config.resource.attributes["service.name"])
        handle.provider.shutdown(timeout_millis=1)
    """
    assert _run(script).stdout.strip() == "from-config"
    assert _run(script, OTEL_SERVICE_NAME="from-env").stdout.strip() == "from-env"
    assert _run(script, OTEL_RESOURCE_ATTRIBUTES="service.name=attr,team=ci").stdout.strip() == "attr"


def test_without_the_sdk_it_warns_once_and_gives_no_meter() -> None:
    script = """
        import logging, sys
        sys.modules["opentelemetry"] = None  # as if the otel extra were not installed
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
        from acme_ci_budget.integrations.otel import OtlpSettings, open_meter
        print(open_meter(OtlpSettings("http://127.0.0.1:9/v1/metrics"), "s", "1", ""))
    """
    out = _run(script)
    assert out.stdout.strip() == "None", out.stderr
    assert out.stderr.strip().splitlines() == [
        "WARNING acme_ci_budget.telemetry OpenTelemetry metrics are configured but the SDK is not installed "
        "(pip install 'acme-ci-budget[otel]')"
    ]
