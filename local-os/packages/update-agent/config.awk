# /usr/lib/update-agent/config.awk: reads the TOML fragments of the agent's configuration (Zincati's
# shape) and prints `dotted.key=value` lines, later files overriding earlier ones. The tiny OS has
# no TOML library (busybox only), so this reads the subset Zincati's configuration uses: `[table]`
# and `[[array.of.tables]]` headers, `key = "string" | 'string' | number | true | false | [array]`
# on one line, comments and blank lines. Array-of-tables entries are numbered:
# `updates.periodic.window.0.days=Sat,Sun`. A line it cannot read is reported on stderr with its
# file and line number and ignored (Zincati refuses such a file; the agent carries on without it).

# The value of a TOML scalar or one-line array, as plain text (arrays joined with commas).
function value_of(text,    result, item, count, items, i) {
  sub(/^[ \t]+/, "", text)
  if (text ~ /^"/) { sub(/^"/, "", text); sub(/"[ \t]*(#.*)?$/, "", text); gsub(/\\"/, "\"", text); return text }
  if (text ~ /^'/) { sub(/^'/, "", text); sub(/'[ \t]*(#.*)?$/, "", text); return text }
  sub(/[ \t]*#.*$/, "", text)
  sub(/[ \t]+$/, "", text)
  if (text ~ /^\[.*\]$/) {
    text = substr(text, 2, length(text) - 2)
    count = split(text, items, ",")
    result = ""
    for (i = 1; i <= count; i++) {
      item = items[i]
      gsub(/^[ \t"']+|[ \t"']+$/, "", item)
      if (item != "") result = result (result == "" ? "" : ",") item
    }
    return result
  }
  return text
}

FNR == 1 { table = "" }
/^[ \t]*(#.*)?$/ { next }
/^[ \t]*\[\[[A-Za-z0-9_.-]+\]\][ \t]*(#.*)?$/ {
  name = $0; gsub(/^[ \t]*\[\[|\]\].*$/, "", name)
  table = name "." (arrays[name]++)
  next
}
/^[ \t]*\[[A-Za-z0-9_.-]+\][ \t]*(#.*)?$/ {
  name = $0; gsub(/^[ \t]*\[|\].*$/, "", name)
  table = name
  next
}
/^[ \t]*[A-Za-z0-9_-]+[ \t]*=/ {
  key = $0; sub(/[ \t]*=.*$/, "", key); gsub(/^[ \t]+/, "", key)
  rest = $0; sub(/^[^=]*=/, "", rest)
  full = (table == "" ? key : table "." key)
  if (!(full in values)) order[count++] = full
  values[full] = value_of(rest)
  next
}
{ printf "update-agent: %s:%d: not understood, ignored: %s\n", FILENAME, FNR, $0 > "/dev/stderr" }
END { for (i = 0; i < count; i++) print order[i] "=" values[order[i]] }
