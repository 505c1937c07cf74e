#!/usr/bin/env bash
# Set up selfkind on Debian 12 from nothing: system packages, then a virtual environment in
# .venv with the program and its test tools. Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in python3 python3-venv espeak-ng ffmpeg libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins chromium chromium-driver tmux; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "selfkind needs these system packages: ${need[*]}; run: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "Installing system packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv .venv >&2
fi
.venv/bin/python -m pip install -q --upgrade pip >&2
.venv/bin/python -m pip install -q -e ".[dev,neural,whisper,web]" >&2

# Tab completion for bash, for everyone on this machine (when run as root and the folder
# exists); otherwise: eval "$(selfkind completion bash)" in ~/.bashrc.
if [ -d /etc/bash_completion.d ] && [ -w /etc/bash_completion.d ]; then
  .venv/bin/selfkind completion bash > /etc/bash_completion.d/selfkind
fi

# Last, what this machine has for selfkind: exit 1 if a required part is missing (no sound
# card is only a warning: files can still be rendered).
.venv/bin/selfkind doctor
