#!/usr/bin/env bash
# Bash completion (completions/tbbpipe.bash), loaded after bash-completion as an interactive
# shell loads it, completes what the programs offer:
#   * commands: `tbbpipe ` gives every command of the "Commands:" list of `tbbpipe --help`, and
#     help; `tbbpipe pa` gives pack; an option's value before the command is not taken for one;
#   * options: `tbbpipe --` gives every long option listed in `tbbpipe --help`, and
#     `tbbpipe COMMAND --` exactly the long options of `tbbpipe COMMAND --help`, for each command
#     (the completion asks the binary, so this also holds after an option is added);
#   * values: --compress, --stages (a comma list), a file for --key-file, *.tbp for unpack;
#   * tbbpipe-lab: its commands, options, --mode values and --param names (tbbpipe's options).
# The expected lists are read here from the help with a parser of their own, not the
# completion's. Exits 77 (ctest: skipped) without bash-completion.
# Usage: tests/completion_check.sh TBBPIPE TBBPIPE_LAB COMPLETION_SCRIPT
set -euo pipefail
tbbpipe="$1"
lab="$2"
script="$3"

[[ -r "$script" ]] || { echo "completion check: cannot read $script" >&2; exit 1; }
bash_completion=""
for candidate in /usr/share/bash-completion/bash_completion /etc/bash_completion; do
    [[ -r "$candidate" ]] && { bash_completion="$candidate"; break; }
done
if [[ -z "$bash_completion" ]]; then
    echo "completion check: skipped: bash-completion is not installed"
    exit 77
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failures=0
fail() {
    echo "completion check: $*" >&2
    failures=$((failures + 1))
}

# bash-completion is written for interactive shells, not for `set -eu`: load it and run the
# completion function with those off, and turn them back on after.
set +eu
# shellcheck disable=SC1090
source "$bash_completion"
# shellcheck disable=SC1090
source "$script"
set -eu

# complete WORD... : the completions offered for the last word, one a line, sorted.
complete_words() {
    local -a COMP_WORDS=("$@")
    local COMP_CWORD=$(($# - 1))
    local COMP_LINE="$*"
    local COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    set +eu
    _tbbpipe "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" \
        2>/dev/null
    set -eu
    [[ ${#COMPREPLY[@]} -eq 0 ]] || printf '%s\n' "${COMPREPLY[@]}" | sort -u
}
# expect WHAT EXPECTED ACTUAL: the two sorted lists are equal.
expect() {
    if [[ "$2" != "$3" ]]; then
        fail "$1: expected [$(tr '\n' ' ' <<<"$2")], got [$(tr '\n' ' ' <<<"$3")]"
    fi
}
# The long options of a help text: the option column only ("  -h [ --help ]", "  --json").
long_options() { sed -nE 's/^  (-[[:alnum:]] \[ )?(--[[:alnum:]][[:alnum:]-]*).*/\2/p' | sort -u; }
commands_of() {
    awk '/^Commands:/ { inside = 1; next } inside && /^$/ { exit }
         inside && /^  [a-z]/ { print $1 }'
}

for program in tbbpipe tbbpipe-lab; do
    complete -p "$program" 2>/dev/null | grep -q -- '-F _tbbpipe' ||
        fail "no completion registered for $program"
done

# Commands.
help="$("$tbbpipe" --help)"
commands="$(commands_of <<<"$help")"
[[ -n "$commands" ]] || fail "no commands found in tbbpipe --help"
expect "tbbpipe <TAB>" "$(printf '%s\nhelp\n' "$commands" | sort -u)" "$(complete_words "$tbbpipe" "")"
expect "tbbpipe pa<TAB>" "pack" "$(complete_words "$tbbpipe" pa)"
expect "tbbpipe help <TAB>" "$(printf '%s\nhelp\n' "$commands" | sort -u)" \
    "$(complete_words "$tbbpipe" help "")"
expect "tbbpipe --key-file k pa<TAB>" "pack" "$(complete_words "$tbbpipe" --key-file k pa)"

# Options: all of them before a command, each command's own after it.
all_options="$(long_options <<<"$help")"
[[ $(wc -l <<<"$all_options") -gt 20 ]] || fail "too few options found in tbbpipe --help"
expect "tbbpipe --<TAB>" "$all_options" "$(complete_words "$tbbpipe" --)"
union=""
for command in $commands; do
    own="$(long_options <<<"$("$tbbpipe" "$command" --help)")"
    [[ -n "$own" ]] || fail "no options found in tbbpipe $command --help"
    expect "tbbpipe $command --<TAB>" "$own" "$(complete_words "$tbbpipe" "$command" --)"
    expect "tbbpipe -q $command --<TAB>" "$own" "$(complete_words "$tbbpipe" -q "$command" --)"
    union+="$own"$'\n'
done
missing="$(comm -23 <(echo "$all_options") <(grep -v '^$' <<<"$union" | sort -u))"
[[ -z "$missing" ]] || fail "options of tbbpipe --help no command completes: $missing"
expect "tbbpipe pack --key<TAB>" "--key-file" "$(complete_words "$tbbpipe" pack --key)"

# Values.
expect "tbbpipe pack --compress l<TAB>" $'lz4\nlz4hc' \
    "$(complete_words "$tbbpipe" pack --compress l)"
expect "tbbpipe pack --stages lz4,a<TAB>" "lz4,aes-256-gcm" \
    "$(complete_words "$tbbpipe" pack --stages lz4,a)"
mkdir -p "$scratch/files/folder"
touch "$scratch/files/a.tbp" "$scratch/files/b.txt" "$scratch/files/keyfile"
cd "$scratch/files"
expect "tbbpipe unpack <TAB>" $'a.tbp\nfolder' "$(complete_words "$tbbpipe" unpack "")"
expect "tbbpipe pack --key-file k<TAB>" "keyfile" "$(complete_words "$tbbpipe" pack --key-file k)"
expect "tbbpipe pack b<TAB>" "b.txt" "$(complete_words "$tbbpipe" pack b)"

# tbbpipe-lab.
lab_help="$("$lab" --help)"
lab_commands="$(commands_of <<<"$lab_help")"
[[ -n "$lab_commands" ]] || fail "no commands found in tbbpipe-lab --help"
expect "tbbpipe-lab <TAB>" "$(printf '%s\nhelp\n' "$lab_commands" | sort -u)" \
    "$(complete_words "$lab" "")"
expect "tbbpipe-lab sweep --<TAB>" "$(long_options <<<"$lab_help")" \
    "$(complete_words "$lab" sweep --)"
expect "tbbpipe-lab sweep --mode <TAB>" $'pack\nunpack' "$(complete_words "$lab" sweep --mode "")"
expect "tbbpipe-lab sweep --param cpu<TAB>" "cpu-tokens=" \
    "$(complete_words "$lab" sweep --param cpu)"

if [[ $failures -gt 0 ]]; then
    echo "completion check: $failures failure(s)" >&2
    exit 1
fi
echo "completion check: $(wc -w <<<"$commands") commands, $(wc -l <<<"$all_options") options" \
     "and their values completed as tbbpipe --help lists them; tbbpipe-lab too"
