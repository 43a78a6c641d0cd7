#!/bin/sh
# The venvs of the GPU image share one torch (/opt/torch, container/requirements-torch-gpu.txt): a copy per
# venv would add about 8 GB each to the image every training job pulls.
#
#   venv-shared-torch.sh new DIR     a Python 3.12 venv at DIR that sees the shared torch (a .pth file appends
#                                    its site-packages to sys.path, after DIR's own: DIR's pins win)
#   venv-shared-torch.sh check DIR   fails, naming them, if pip put a second copy of a shared package in DIR
#                                    (a pin that drifted from requirements-torch-gpu.txt)
set -eu
SHARED=/opt/torch
SHARED_PINS=/build/requirements-torch-gpu.txt
site() { echo "$1/lib/python3.12/site-packages"; }
names() { tr 'A-Z_.' 'a-z--' | sort -u; }

case "${1:-}" in
new)
    python3.12 -m venv "$2"
    site "${SHARED}" >"$(site "$2")/gs-shared-torch.pth"
    ;;
check)
    own="$("$2/bin/python" -m pip list --path "$(site "$2")" --format freeze | sed 's/==.*//' | names)"
    copies=""
    for name in $(sed -n 's/==.*//p' "${SHARED_PINS}" | names); do
        if printf '%s\n' "${own}" | grep -qx "${name}"; then copies="${copies} ${name}"; fi
    done
    if [ -n "${copies}" ]; then
        echo "$2 holds its own copy of the shared torch packages:${copies}" \
            "- pin them as container/requirements-torch-gpu.txt does" >&2
        exit 1
    fi
    "$2/bin/python" -c "import torch, sys; sys.exit(0 if torch.__file__.startswith('${SHARED}/') else 'torch not shared')"
    ;;
*)
    echo "usage: $0 new|check DIR" >&2
    exit 2
    ;;
esac
