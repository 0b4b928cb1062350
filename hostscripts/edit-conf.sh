# shellcheck shell=sh
# Run the conf edits once (lib/edit-conf.sh).

edit_conf
