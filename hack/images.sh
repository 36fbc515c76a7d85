#!/usr/bin/env bash
# Base images for machines that cannot reach an image registry.
#
#   hack/images.sh bases     make sure every image services/Dockerfile builds
#                            FROM exists in the local engine: pull it, and only
#                            when the pull fails make a local stand-in and tag
#                            it with the real name
#   hack/images.sh services  the same for the images docker-compose.yml runs
#                            (postgres, redis); stand-ins get their own names
#                            and reach compose only through the override file
#                            `make test-compose` writes; prints "real" or
#                            "standin" for each, as NAME=real|standin lines
#   hack/images.sh list      what `bases` covers, one "name<TAB>stand-in" a line
#
# On a machine that can pull, every image is the real one and nothing here
# changes the build. The stand-ins (see "Containers on a machine that cannot
# pull" in the top-level README):
#   golang:<GO_VERSION>-bookworm    Debian bookworm (debootstrap, minbase, from
#                                   the machine's own apt mirror) + the Go
#                                   toolchain the Go module proxy serves
#                                   (golang.org/toolchain), GOPATH=/go
#   gcr.io/distroless/static-debian12:nonroot
#                                   scratch + CA certificates + tzdata + passwd/
#                                   group with root, nobody and nonroot (65532),
#                                   USER 65532, WORKDIR /home/nonroot
#   alpine:<v>                      scratch + Debian's static busybox (applets
#                                   as symlinks, so `adduser -D -H` works) +
#                                   passwd/group; only the Tilt dev stage uses it
#   webhook-ingestor-standin/postgres:16  Debian bookworm + Debian's PostgreSQL 15
#                                   with an entrypoint that honours POSTGRES_USER/
#                                   PASSWORD/DB and /var/lib/postgresql/data
#   webhook-ingestor-standin/redis:7      Debian bookworm + Debian's redis-server 7.0
#                                   (protected mode off as in the real image,
#                                   WORKDIR /data, runs as redis)
#
# IMAGES_PULL=0 skips the pull attempts (they fail fast here anyway).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/lib.sh
. hack/lib.sh

export DOCKER_BUILDKIT=1
DOCKER=${DOCKER:-$(hack/docker.sh up)}
CACHE=${IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/webhook-ingestor/images}
DEBIAN_SUITE=bookworm
DEBIAN_IMAGE=webhook-ingestor-standin/debian:$DEBIAN_SUITE
PG_STANDIN=webhook-ingestor-standin/postgres:16
REDIS_STANDIN=webhook-ingestor-standin/redis:7

# dockerfile_arg NAME: the default of a global ARG in services/Dockerfile.
dockerfile_arg() { sed -n "s/^ARG $1=\(.*\)$/\1/p" services/Dockerfile | head -1; }

GO_VERSION=$(dockerfile_arg GO_VERSION)
GOLANG_IMAGE=golang:$GO_VERSION-bookworm
RUNTIME_IMAGE=$(dockerfile_arg RUNTIME_IMAGE)
DEV_IMAGE=$(dockerfile_arg DEV_IMAGE)
[[ -n $GO_VERSION && -n $RUNTIME_IMAGE && -n $DEV_IMAGE ]] || die "services/Dockerfile lost an ARG default (GO_VERSION, RUNTIME_IMAGE, DEV_IMAGE)"

have() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# pulled IMAGE: true when IMAGE is here or a pull brings it.
pulled() {
  have "$1" && return 0
  [[ ${IMAGES_PULL:-1} == 0 ]] && return 1
  timeout 60 "$DOCKER" pull -q "$1" >/dev/null 2>&1
}

# apt_mirror: the Debian mirror this machine's apt uses (debootstrap's default otherwise).
apt_mirror() {
  local m
  m=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -1)
  [[ -n $m ]] || m=$(awk '$1 == "deb" && $3 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  echo "$m"
}

# debian_rootfs: a cached bookworm minbase root filesystem (as a tarball),
# imported as $DEBIAN_IMAGE.
debian_base() {
  have "$DEBIAN_IMAGE" && return 0
  local tar=$CACHE/debian-$DEBIAN_SUITE.tar
  if [[ ! -s $tar ]]; then
    command -v debootstrap >/dev/null || apt_install debootstrap
    local root
    mkdir -p "$CACHE"
    root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    log "debootstrap $DEBIAN_SUITE (minbase) into $root (once per machine, a few minutes)"
    # shellcheck disable=SC2046 # the mirror is one word or none
    debootstrap --variant=minbase --include=ca-certificates,tzdata,busybox-static \
      "$DEBIAN_SUITE" "$root" $(apt_mirror) >"$CACHE/debootstrap.log" 2>&1 \
      || die "debootstrap failed; see $CACHE/debootstrap.log"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
    rm -rf "$root"
  fi
  log "importing $tar as $DEBIAN_IMAGE"
  "$DOCKER" import -c 'CMD ["bash"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tar" "$DEBIAN_IMAGE" >/dev/null
}

# host_ca_bundle: the CA bundle this machine's own TLS clients use.
host_ca_bundle() {
  local f
  for f in "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
    [[ -n $f && -s $f ]] && { echo "$f"; return; }
  done
  die "no CA bundle found on this machine (set SSL_CERT_FILE)"
}

# passwd_files DIR: passwd/group for a shell-less image: root, nobody, nonroot.
passwd_files() {
  mkdir -p "$1/etc" "$1/home/nonroot" "$1/tmp"
  cat >"$1/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"$1/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
}

standin_golang() {
  debian_base
  local ctx mod
  ctx=$(mktemp -d)
  # The toolchain module is the official Go distribution, repackaged for GOTOOLCHAIN.
  mod=$(go mod download -json "golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-amd64" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d $mod/bin ]] || die "the module proxy has no Go $GO_VERSION toolchain"
  cp -r "$mod" "$ctx/go"
  chmod -R u+w "$ctx/go"
  # The build stage downloads modules: trust what this machine trusts (a
  # TLS-inspecting proxy's CA is in the host's bundle, not in Debian's).
  cp "$(host_ca_bundle)" "$ctx/ca-certificates.crt"
  "$DOCKER" build -q -t "$GOLANG_IMAGE" -f- "$ctx" >/dev/null <<EOF
FROM $DEBIAN_IMAGE
COPY go /usr/local/go
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV GOLANG_VERSION=$GO_VERSION GOTOOLCHAIN=local GOPATH=/go \
    PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /go/src /go/bin && chmod -R 1777 /go && go version
WORKDIR /go
LABEL org.opencontainers.image.description="local stand-in: Debian $DEBIAN_SUITE (debootstrap) + Go $GO_VERSION from the module proxy"
EOF
  rm -rf "$ctx"
}

standin_distroless() {
  debian_base
  local ctx
  ctx=$(mktemp -d)
  passwd_files "$ctx/root"
  chmod 1777 "$ctx/root/tmp"
  "$DOCKER" build -q -t "$RUNTIME_IMAGE" -f- "$ctx" >/dev/null <<EOF
FROM $DEBIAN_IMAGE AS debian
FROM scratch
COPY root/ /
COPY --from=debian /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=debian /usr/share/zoneinfo /usr/share/zoneinfo
COPY --from=debian /etc/nsswitch.conf /etc/nsswitch.conf
COPY --chown=65532:65532 root/home/nonroot /home/nonroot
USER 65532:65532
WORKDIR /home/nonroot
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
LABEL org.opencontainers.image.description="local stand-in for $RUNTIME_IMAGE: scratch + CA certificates + tzdata + passwd (nonroot 65532)"
EOF
  rm -rf "$ctx"
}

standin_alpine() {
  debian_base
  local ctx
  ctx=$(mktemp -d)
  passwd_files "$ctx/root"
  sed -i 's#/sbin/nologin#/bin/sh#; s#/nonexistent#/#' "$ctx/root/etc/passwd"
  "$DOCKER" build -q -t "$DEV_IMAGE" -f- "$ctx" >/dev/null <<EOF
FROM $DEBIAN_IMAGE AS debian
FROM scratch
COPY root/ /
COPY --from=debian /bin/busybox /bin/busybox
COPY --from=debian /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /usr/bin /sbin /usr/sbin && /bin/busybox --install -s && chmod 1777 /tmp"]
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["/bin/sh"]
LABEL org.opencontainers.image.description="local stand-in for $DEV_IMAGE: scratch + Debian's static busybox"
EOF
  rm -rf "$ctx"
}

standin_postgres() {
  debian_base
  local ctx
  ctx=$(mktemp -d)
  cat >"$ctx/entrypoint.sh" <<'EOF'
#!/bin/sh
# Stand-in for the official postgres image's entrypoint: the same variables,
# the same data directory, initialised on first start.
set -eu
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
user="${POSTGRES_USER:-postgres}" db="${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pw=$(mktemp); printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" >"$pw"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
  rm -f "$pw"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    # The set-up server listens on a private socket only, so the
    # healthcheck (pg_isready on the default socket) cannot call it ready.
    mkdir -p /tmp/pginit
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=/tmp/pginit" start >/dev/null
    psql -h /tmp/pginit -v ON_ERROR_STOP=1 -U "$user" -d postgres -c "CREATE DATABASE \"$db\"" >/dev/null
    pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
  fi
fi
exec "$@" -D "$PGDATA" -c listen_addresses='*'
EOF
  chmod 755 "$ctx/entrypoint.sh"
  "$DOCKER" build -q -t "$PG_STANDIN" -f- "$ctx" >/dev/null <<EOF
FROM $DEBIAN_IMAGE
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \
 && rm -rf /var/lib/apt/lists/* && pg_dropcluster 15 main || true
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
LABEL org.opencontainers.image.description="local stand-in for postgres:16-alpine: Debian's PostgreSQL 15"
EOF
  rm -rf "$ctx"
}

standin_redis() {
  debian_base
  local ctx
  ctx=$(mktemp -d)
  cat >"$ctx/entrypoint.sh" <<'EOF'
#!/bin/sh
# Stand-in for the official redis image's entrypoint: owns /data, drops to the
# redis user, and turns protected mode off when no config file is given.
set -eu
if [ "${1:-}" = redis-server ] && [ "$(id -u)" = 0 ]; then
  chown -R redis:redis /data
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@" --protected-mode no
fi
exec "$@"
EOF
  chmod 755 "$ctx/entrypoint.sh"
  "$DOCKER" build -q -t "$REDIS_STANDIN" -f- "$ctx" >/dev/null <<EOF
FROM $DEBIAN_IMAGE
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
 && rm -rf /var/lib/apt/lists/* && mkdir -p /data && chown redis:redis /data
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]
LABEL org.opencontainers.image.description="local stand-in for redis:7-alpine: Debian's redis-server 7.0"
EOF
  rm -rf "$ctx"
}

# ensure IMAGE STANDIN_FN: the real image, else the stand-in under the real name.
ensure() {
  if pulled "$1"; then
    return 0
  fi
  log "$1 cannot be pulled: making a local stand-in"
  "$2"
  have "$1" || die "stand-in for $1 was not made"
}

case ${1:-} in
  bases)
    ensure "$GOLANG_IMAGE" standin_golang
    ensure "$RUNTIME_IMAGE" standin_distroless
    ensure "$DEV_IMAGE" standin_alpine
    ;;
  services)
    for pair in "postgres:16-alpine $PG_STANDIN standin_postgres" "redis:7-alpine $REDIS_STANDIN standin_redis"; do
      read -r real standin fn <<<"$pair"
      if pulled "$real"; then
        echo "${real%%:*}=$real"
      else
        have "$standin" || { log "$real cannot be pulled: making $standin"; "$fn"; }
        echo "${real%%:*}=$standin"
      fi
    done
    ;;
  list)
    printf '%s\t%s\n' "$GOLANG_IMAGE" standin_golang "$RUNTIME_IMAGE" standin_distroless "$DEV_IMAGE" standin_alpine
    ;;
  *) echo "usage: $0 bases|services|list" >&2; exit 2 ;;
esac
