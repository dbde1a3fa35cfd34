"""Rules of docker-compose.yml that its JSON schema cannot state (run by scripts/check-deploy)."""

import sys

import yaml


def main(path: str) -> int:
    with open(path, encoding="utf-8") as file:
        compose = yaml.safe_load(file)
    services = compose["services"]
    declared = set(compose.get("volumes") or {})
    errors = []
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if not source.startswith((".", "/", "~")) and source not in declared:
                errors.append(f"{name}: volume {source!r} is not declared under volumes:")
        for dependency in service.get("depends_on", {}):
            if dependency not in services:
                errors.append(f"{name}: depends on {dependency!r}, which is no service")
        profiles = service.get("profiles", [])
        command = service.get("command", [])
        serves = command[:1] == ["serve"]
        if serves and "--roles" not in command and "split" in profiles:
            errors.append(f"{name}: the all-roles service must not start in the split profile")
        if serves and "split" in profiles:
            if service.get("environment", {}).get("CASHFLOW_NO_MIGRATE") != "true":
                errors.append(f"{name}: a split role must run --no-migrate (CASHFLOW_NO_MIGRATE)")
            if service.get("depends_on", {}).get("migrate", {}).get("condition") != "service_completed_successfully":
                errors.append(f"{name}: a split role must wait for the migrate one-shot")
        if serves and not profiles:
            errors.append(f"{name}: a Cashflow role without a profile starts in every profile")
    for error in errors:
        print(f"{path}: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
