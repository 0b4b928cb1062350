#!/usr/bin/env python3
"""Apply idempotent edits to SeaTable's conf files on a host (Python 3, stdlib only).

Runs on the host as root, e.g. over SSH with the script text on stdin:

    SEATABLE_CONF_EDITS='[...]' python3 - --conf-dir /opt/seatable-server/seatable/conf

Where the edits come from (first that is given):
  --edits-file PATH           a JSON file holding the list of edits
  $SEATABLE_CONF_EDITS        the JSON list itself
(stdin is not read for edits: it carries the script when run as `python3 -`.)

An edit is one JSON object (the plan layer's ConfEdit, pure/plan/seatable.ts):
  {"file": "dtable_web_settings.py", "format": "python", "key": "K", "value": "text"}
      sets the top-level assignment `K = 'text'` (the last one, the one that wins),
      or appends one; the value is always a Python string literal.
  {"file": "dtable-db.conf", "format": "ini", "section": "S", "key": "k", "value": "raw"}
      sets `k = raw` inside [S] (the value is written as given, quotes included);
      adds the key at the end of the section, or the section at the end of the file.
  {"file": "dtable_server_config.json", "format": "json", "key": "k", "value": <JSON value>}
      sets a top-level key; the file is rewritten (indent 4) only when it changes.
  "create": true on an edit means the file may be created when missing (SeaTable
  does not generate dtable-api-gateway.conf); other files are waited for, because
  the container writes them on its first start.

Behaviour:
  * waits until every file to wait for exists, is not empty and has not been
    modified for --settle seconds (the container may still be writing it), at
    most --timeout seconds in all (default 600); then applies every edit.
    On timeout it applies nothing and exits 2.
  * changes only the lines of the keys concerned; every other byte stays.
  * writes atomically (temporary file in the same folder, fsync, rename) and keeps
    the file's mode and owner.
  * prints one line per file, "changed <file>" or "unchanged <file>"; a second
    run with the same edits prints "unchanged" everywhere and touches nothing.
Exit status: 0 all applied, 2 timed out waiting for a file, 1 any other error.
"""
import argparse
import ast
import json
import os
import re
import sys
import tempfile
import time

ENV_NAME = "SEATABLE_CONF_EDITS"
DEFAULT_CONF_DIR = "/opt/seatable-server/seatable/conf"


class EditError(Exception):
    pass


def newline_of(text):
    return "\r\n" if "\r\n" in text else "\n"


def split_eol(line):
    """('body', 'eol') of one line that keeps its line ending."""
    if line.endswith("\r\n"):
        return line[:-2], "\r\n"
    if line.endswith("\n") or line.endswith("\r"):
        return line[:-1], line[-1]
    return line, ""


def with_final_newline(text):
    if text and not text.endswith(("\n", "\r")):
        return text + newline_of(text)
    return text


# ---------------------------------------------------------------- python
def python_literal(value):
    if not isinstance(value, str):
        raise EditError("python edits take string values, found %r" % (value,))
    return repr(value)


def edit_python(text, key, value, name):
    try:
        tree = ast.parse(text, filename=name)
    except SyntaxError as e:
        raise EditError("%s is not valid Python (%s); not editing it" % (name, e))
    wanted = "%s = %s" % (key, python_literal(value))
    last = None
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == key
        ):
            last = node
    if last is None:
        return with_final_newline(text) + wanted + newline_of(text)
    try:
        current = ast.literal_eval(last.value)
    except ValueError:
        current = None
    if isinstance(current, str) and current == value:
        return text  # already right, whatever quotes it is written with
    lines = text.splitlines(keepends=True)
    first, end = last.lineno - 1, last.end_lineno - 1
    # col offsets are UTF-8 byte offsets
    prefix = lines[first].encode("utf-8")[: last.col_offset].decode("utf-8")
    suffix = lines[end].encode("utf-8")[last.end_col_offset :].decode("utf-8")
    lines[first : end + 1] = [prefix + wanted + suffix]
    return "".join(lines)


# ---------------------------------------------------------------- ini
SECTION_RE = re.compile(r"^\s*\[(?P<name>[^\]]+)\]\s*$")
KEY_RE = re.compile(r"^(?P<indent>\s*)(?P<key>[^=:#;\[\s][^=:]*?)\s*[=:]\s*(?P<value>.*?)\s*$")


def unquote(v):
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        return v[1:-1]
    return v


def edit_ini(text, section, key, value, name):
    if not isinstance(value, str):
        raise EditError("ini edits take string values, found %r" % (value,))
    nl = newline_of(text)
    lines = text.splitlines(keepends=True)
    start = None
    for i, line in enumerate(lines):
        m = SECTION_RE.match(split_eol(line)[0])
        if m and m.group("name").strip() == section:
            start = i
            break
    if start is None:
        out = with_final_newline(text)
        if out and not out.endswith(nl + nl) and out.strip():
            out += nl
        return out + "[%s]%s%s = %s%s" % (section, nl, key, value, nl)
    end = len(lines)
    for j in range(start + 1, len(lines)):
        if SECTION_RE.match(split_eol(lines[j])[0]):
            end = j
            break
    found = None
    last_content = start
    for j in range(start + 1, end):
        body = split_eol(lines[j])[0]
        stripped = body.strip()
        if stripped and not stripped.startswith(("#", ";")):
            last_content = j
            m = KEY_RE.match(body)
            # keys compare case-insensitively, as Python's configparser does
            if m and m.group("key").strip().lower() == key.lower():
                found = (j, m)
    if found is not None:
        j, m = found
        current = m.group("value")
        if current == value or unquote(current) == unquote(value):
            return text
        body, eol = split_eol(lines[j])
        lines[j] = "%s%s = %s%s" % (m.group("indent"), m.group("key").strip(), value, eol or nl)
        return "".join(lines)
    # add after the section's last key, before the blank lines that separate it
    at = last_content
    if not split_eol(lines[at])[1]:
        lines[at] = lines[at] + nl
    lines.insert(at + 1, "%s = %s%s" % (key, value, nl))
    return "".join(lines)


# ---------------------------------------------------------------- json
def edit_json_all(text, edits, name):
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as e:
        raise EditError("%s is not valid JSON (%s); not editing it" % (name, e))
    if not isinstance(data, dict):
        raise EditError("%s does not hold a JSON object; not editing it" % name)
    changed = False
    for e in edits:
        if e["key"] not in data or data[e["key"]] != e["value"] or type(data[e["key"]]) is not type(e["value"]):
            data[e["key"]] = e["value"]
            changed = True
    if not changed:
        return text
    return json.dumps(data, indent=4, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- files
def write_atomically(path, text):
    directory = os.path.dirname(path) or "."
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if st is not None:
            os.chmod(tmp, st.st_mode & 0o7777)
            try:
                os.chown(tmp, st.st_uid, st.st_gid)
            except PermissionError:
                pass
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def validate(edits):
    if not isinstance(edits, list):
        raise EditError("the edits must be a JSON list")
    for i, e in enumerate(edits):
        if not isinstance(e, dict):
            raise EditError("edit %d is not an object" % i)
        f = e.get("file")
        if not isinstance(f, str) or not f or "/" in f or f in (".", ".."):
            raise EditError("edit %d: file must be a plain file name in the conf folder" % i)
        if e.get("format") not in ("python", "ini", "json"):
            raise EditError("edit %d: format must be python, ini or json" % i)
        if not isinstance(e.get("key"), str) or not e["key"]:
            raise EditError("edit %d: key missing" % i)
        if "value" not in e:
            raise EditError("edit %d: value missing" % i)
        if e["format"] == "ini" and (not isinstance(e.get("section"), str) or not e["section"]):
            raise EditError("edit %d: ini edits need a section" % i)
        if e["format"] == "python" and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", e["key"]):
            raise EditError("edit %d: %r is not a Python name" % (i, e["key"]))
    formats = {}
    for e in edits:
        if formats.setdefault(e["file"], e["format"]) != e["format"]:
            raise EditError("%s is edited as both %s and %s" % (e["file"], formats[e["file"]], e["format"]))


def ready(path, settle):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    return st.st_size > 0 and time.time() - st.st_mtime >= settle


def main(argv):
    parser = argparse.ArgumentParser(description="Apply idempotent edits to SeaTable conf files.")
    parser.add_argument("--conf-dir", default=DEFAULT_CONF_DIR)
    parser.add_argument("--edits-file", help="JSON file with the edits (else $%s)" % ENV_NAME)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the files (default 600)")
    parser.add_argument("--settle", type=float, default=2.0, help="a file must be unchanged this long before it is edited (default 2)")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between checks while waiting")
    args = parser.parse_args(argv)

    try:
        if args.edits_file:
            with open(args.edits_file, encoding="utf-8") as f:
                raw = f.read()
        elif os.environ.get(ENV_NAME):
            raw = os.environ[ENV_NAME]
        else:
            raise EditError("no edits: pass --edits-file PATH or set %s" % ENV_NAME)
        try:
            edits = json.loads(raw)
        except ValueError as e:
            raise EditError("the edits are not JSON: %s" % e)
        validate(edits)
    except (EditError, OSError) as e:
        print("edit-conf: %s" % e, file=sys.stderr)
        return 1

    files = []
    by_file = {}
    for e in edits:
        if e["file"] not in by_file:
            files.append(e["file"])
            by_file[e["file"]] = []
        by_file[e["file"]].append(e)
    creatable = {f for f in files if all(e.get("create") for e in by_file[f])}

    deadline = time.monotonic() + args.timeout
    waiting = [f for f in files if f not in creatable]
    while True:
        waiting = [f for f in waiting if not ready(os.path.join(args.conf_dir, f), args.settle)]
        if not waiting:
            break
        if time.monotonic() >= deadline:
            for f in waiting:
                print("missing %s" % f)
            print(
                "edit-conf: timed out after %gs waiting for %s in %s (has the seatable-server container started once?); nothing changed"
                % (args.timeout, ", ".join(waiting), args.conf_dir),
                file=sys.stderr,
            )
            return 2
        time.sleep(max(0.05, min(args.poll, deadline - time.monotonic())))

    try:
        results = []
        pending = []
        for name in files:
            path = os.path.join(args.conf_dir, name)
            try:
                with open(path, encoding="utf-8", newline="") as f:
                    before = f.read()
            except FileNotFoundError:
                if name not in creatable:
                    raise EditError("%s disappeared" % path)
                before = ""
            after = before
            group = by_file[name]
            if group[0]["format"] == "json":
                after = edit_json_all(before, group, name)
            else:
                for e in group:
                    if e["format"] == "python":
                        after = edit_python(after, e["key"], e["value"], name)
                    else:
                        after = edit_ini(after, e["section"], e["key"], e["value"], name)
            exists = os.path.exists(path)
            pending.append((name, path, after, after != before or not exists))
        # every file is computed before any is written: a bad file changes nothing
        for name, path, after, changed in pending:
            if changed:
                write_atomically(path, after)
            results.append("%s %s" % ("changed" if changed else "unchanged", name))
    except (EditError, OSError) as e:
        for line in results:
            print(line)
        print("edit-conf: %s" % e, file=sys.stderr)
        return 1
    for line in results:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
