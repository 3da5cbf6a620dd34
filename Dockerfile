# webknock gateway image. Multi-stage: build with dev dependencies, run with production ones.
#
#   docker build -t webknock .
#   docker run -d --network host --cap-add NET_ADMIN \
#     -v /etc/webknock:/etc/webknock:ro webknock serve -c /etc/webknock/webknock.yaml
#
# --network host: the gateway must see real client addresses and manage the host's own
#   firewall (a container namespace's firewall would protect nothing).
# --cap-add NET_ADMIN: iptables/ip6tables/ipset/nft need it; nothing else is needed.
# Redis: set store.redis to a Redis the container can reach (e.g. redis://127.0.0.1:6379/0
#   on the host, bound to loopback); leave it out for the in-memory single-instance store.
#   compose.yaml runs both; its gateway entrypoint and command must stay equal to the
#   ENTRYPOINT and CMD below (test/ops/compose.system.test.ts checks, and runs them).
# Secret files under /etc/webknock must be readable by the image's `node` user (uid 1000).

FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:22-bookworm-slim
# Firewall tools the backends drive; oathtool is not needed at run time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables ipset nftables conntrack libcap2-bin tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY views ./views
COPY config/webknock.example.yaml ./config/
# Run as the unprivileged `node` user. The firewall tools get CAP_NET_ADMIN as file
# capabilities, which only take effect when the container's bounding set has it
# (--cap-add NET_ADMIN); without it they fail with "Operation not permitted" and webknock
# refuses to open anything. The xtables lock moves to a path the node user can write.
RUN setcap cap_net_admin,cap_net_raw+ep "$(readlink -f /usr/sbin/iptables)" \
 && setcap cap_net_admin+ep /usr/sbin/ipset \
 && setcap cap_net_admin+ep /usr/sbin/nft
ENV XTABLES_LOCKFILE=/tmp/xtables.lock
USER node
ENV NODE_ENV=production
EXPOSE 8080 8443
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/cli/main.js"]
CMD ["serve", "-c", "/etc/webknock/webknock.yaml"]
