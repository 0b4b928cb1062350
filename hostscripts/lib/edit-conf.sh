# shellcheck shell=sh
# The conf edits: hostscripts/edit-conf.py comes on stdin to python3, the edits
# (no secrets in them) in its environment. Header: CONF_EDITS (JSON),
# EDIT_CONF_DIR, EDIT_TIMEOUT, EDIT_SETTLE, PYTHON.

edit_conf() {
  SEATABLE_CONF_EDITS=$CONF_EDITS "$PYTHON" - --conf-dir "$EDIT_CONF_DIR" --timeout "$EDIT_TIMEOUT" --settle "$EDIT_SETTLE"
}
