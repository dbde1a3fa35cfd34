# shellcheck shell=bash
# Shared by scripts/run and .ci/run: the system packages (scripts/system-packages.txt) and the
# local PostgreSQL and NATS of a machine of this kind. Source it from the repository's root.

# Installs the packages of scripts/system-packages.txt that dpkg does not have.
install_system_packages() {
  local package missing=()
  while read -r package; do
    package="${package%%#*}"
    package="${package//[[:space:]]/}"
    [[ -n "$package" ]] || continue
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done <scripts/system-packages.txt
  ((${#missing[@]})) || return 0
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  echo "installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }

# Starts the machine's PostgreSQL and NATS (JetStream) when they do not answer, and waits for both.
start_services() {
  if ! pg_up; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  fi
  if ! nats_up; then
    echo "starting NATS"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
      -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  fi
  for _ in $(seq 60); do pg_up && nats_up && break; sleep 1; done
  pg_up || { echo "PostgreSQL does not answer on 127.0.0.1:5432"; return 1; }
  nats_up || { echo "NATS does not answer on 127.0.0.1:4222"; return 1; }
}
