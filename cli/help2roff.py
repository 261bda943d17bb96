#!/usr/bin/env python3
"""help2roff.py AK OUTDIR VERB...: man pages from the built ak's --help texts.

Writes OUTDIR/ak.1 from `ak --help` and OUTDIR/ak-VERB.1 from `ak VERB --help`
for each VERB given (the genrule's declared outputs). Fails, naming them, when
the commands `ak --help` lists differ from the VERBs given, so a new command
without a page (or a page for a removed one) stops the build.

The help texts follow one shape (cli/main.c and the cmd_*.c help strings):
a "Usage:" block up to the first blank line, prose, option lines
("  -k, --keep    what it does", continued by deeper-indented lines), other
indented lines (tables, commands), and "Examples:" to the end.
"""
import re
import subprocess
import sys

OPTION = re.compile(r"^  (-\S.*?)(?:\s{2,}(\S.*))?$")
COMMAND = re.compile(r"^  (\S+)\s+(\S.*)$")


def esc(text):
    """Text as roff: backslashes and hyphens escaped, no line starting a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def help_of(ak, args):
    r = subprocess.run([ak] + args, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        sys.exit("help2roff: %s %s exited %d: %s" % (ak, " ".join(args), r.returncode, r.stderr.strip()))
    return r.stdout.splitlines()


def split_usage(lines):
    """(synopsis lines without "Usage: ", the rest)."""
    if not lines or not lines[0].startswith("Usage: "):
        sys.exit("help2roff: help text does not start with 'Usage: ': %r" % (lines[:1],))
    end = lines.index("") if "" in lines else len(lines)
    syn = [lines[0][len("Usage: "):]] + [l[len("Usage: "):] if l.startswith("       ") else l.strip() for l in lines[1:end]]
    return syn, lines[end + 1:]


def body(lines, out):
    """Prose filled, option lines as .TP items, other indented lines verbatim,
    "Examples:" and what follows as an EXAMPLES section."""
    mode = None  # None, "tp" (in an option item), "nf" (verbatim block)
    for i, line in enumerate(lines):
        if line == "Examples:":
            if mode == "nf":
                out.append(".fi")
            out.append(".SH EXAMPLES")
            out.append(".nf")
            out += ["    " + esc(l.strip()) if l.strip() else "" for l in lines[i + 1:]]
            out.append(".fi")
            return
        m = OPTION.match(line)
        if not line.strip():
            if mode == "nf":
                out.append(".fi")
            out.append(".PP")
            mode = None
        elif m:
            if mode == "nf":
                out.append(".fi")
            out.append(".TP")
            out.append("\\fB" + esc(m.group(1).strip()) + "\\fR")
            if m.group(2):
                out.append(esc(m.group(2)))
            mode = "tp"
        elif mode == "tp" and line.startswith("   "):
            out.append(esc(line.strip()))
        elif line.startswith("  "):
            if mode != "nf":
                out.append(".PP" if mode == "tp" else ".sp 0")
                out.append(".nf")
            out.append(esc(line))
            mode = "nf"
        else:
            if mode == "nf":
                out.append(".fi")
            if mode == "tp":
                out.append(".PP")
            out.append(esc(line))
            mode = None
    if mode == "nf":
        out.append(".fi")


def page(title, name, summary, version, syn, rest, see_also, commands=None):
    out = [
        '.TH %s 1 "" "ak %s" "ak manual"' % (esc(title.upper()), version),
        ".nh",
        ".ad l",
        ".SH NAME",
        "%s \\- %s" % (esc(name), esc(summary)),
        ".SH SYNOPSIS",
        ".nf",
    ] + [esc(l) for l in syn] + [".fi", ".SH DESCRIPTION"]
    if commands:
        out += [esc(summary[0].upper() + summary[1:] + "."), ".SH COMMANDS"]
        for c, what in commands.items():
            out += [".TP", "\\fB%s\\fR" % esc(c), "%s; see \\fBak\\-%s\\fR(1)." % (esc(what), esc(c))]
        out.append(".PP")
    body(rest, out)
    out += [".SH SEE ALSO", ", ".join("\\fB%s\\fR(1)" % esc(s) for s in see_also)]
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: help2roff.py AK OUTDIR VERB...")
    ak, outdir, verbs = sys.argv[1], sys.argv[2], sys.argv[3:]
    version = help_of(ak, ["version"])[0].split()[1]
    top = help_of(ak, ["--help"])
    start = top.index("Commands:") + 1
    commands = {}
    end = start
    while end < len(top) and COMMAND.match(top[end]):
        m = COMMAND.match(top[end])
        commands[m.group(1)] = m.group(2)
        end += 1
    commands.pop("help", None)  # `ak help VERB` is `ak VERB --help`: no page of its own
    if set(commands) != set(verbs):
        sys.exit("help2roff: ak's commands and the pages declared in cli/BUILD (AK_MAN_VERBS) differ: "
                 "missing pages %s, pages for no command %s" %
                 (sorted(set(commands) - set(verbs)), sorted(set(verbs) - set(commands))))
    summary = top[0].split(": ", 1)[1].rstrip(".")
    syn = ["ak COMMAND [ARGS...]"]
    rest = top[end:]
    while rest and not rest[0].strip():
        rest = rest[1:]
    with open("%s/ak.1" % outdir, "w") as f:
        f.write(page("ak", "ak", summary, version, syn, rest, ["ak-" + v for v in verbs], commands))
    for v in verbs:
        s, r = split_usage(help_of(ak, [v, "--help"]))
        with open("%s/ak-%s.1" % (outdir, v), "w") as f:
            f.write(page("ak-" + v, "ak-" + v, commands[v], version, s, r, ["ak"]))


if __name__ == "__main__":
    main()
