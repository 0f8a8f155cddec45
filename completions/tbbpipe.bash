# bash completion for tbbpipe and tbbpipe-lab (installed as
# share/bash-completion/completions/tbbpipe and .../tbbpipe-lab; bash-completion loads it on
# first use of either name).
#
# Commands and options are asked of the program being completed, at completion time: the
# commands from the "Commands:" list of `PROGRAM --help`, a command's options from
# `PROGRAM COMMAND --help`. So the completion cannot go stale when an option is added, and it
# completes the options of the binary actually typed (./build/apps/tbbpipe as well as the
# installed one). Only the values of options with a fixed set of choices are listed here.
#
# shellcheck disable=SC2207  # COMPREPLY=($(compgen ...)): the completion idiom; the words are
#                            # option names and values, never with blanks.

# Prints one line per option of `PROGRAM [COMMAND] --help`: its name, then 1 if it takes a value.
# Boost.Program_options starts each option in the third column ("  -h [ --help ]",
# "  --key-file arg", "  --data SPEC"); wrapped descriptions are indented further.
_tbbpipe_options()
{
    local line names value arg name
    local re='^  (-[[:alnum:]])?( \[ )?(--[[:alnum:]][[:alnum:]-]*)?( \])?( ([^ ]+))?'
    LC_ALL=C "$@" --help 2>/dev/null | while IFS= read -r line; do
        [[ $line =~ $re ]] || continue
        names="${BASH_REMATCH[1]} ${BASH_REMATCH[3]}"
        value=${BASH_REMATCH[6]}
        [[ -n ${names// /} ]] || continue
        # A value is "arg" or a placeholder in capitals (NAME=V,...); anything else after one
        # space is the description.
        arg=0
        [[ $value == arg || $value =~ ^[A-Z][A-Z0-9=.,_-]*$ ]] && arg=1
        for name in $names; do
            printf '%s %s\n' "$name" "$arg"
        done
    done | sort -u
}

# Prints the commands of the "Commands:" list of `PROGRAM --help`, one a line.
_tbbpipe_commands()
{
    {
        LC_ALL=C "$1" --help 2>/dev/null | while IFS= read -r line; do
            case $line in
                Commands:*) inside=1 ;;
                '') [[ -n ${inside-} ]] && break ;;
                *) [[ -n ${inside-} && $line =~ ^\ \ ([a-z][a-z0-9-]*)(\ |$) ]] &&
                    printf '%s\n' "${BASH_REMATCH[1]}" ;;
            esac
        done
        echo help  # `tbbpipe help pack`, whether or not the list names it
    } | sort -u
}

_tbbpipe()
{
    local cur prev words cword split
    _init_completion -s || return

    local prog=${words[0]} lab=
    [[ ${prog##*/} == tbbpipe-lab* ]] && lab=1

    # The options of the whole program tell which words before the command are option values.
    local -A takes_value=()
    local name arg
    while read -r name arg; do takes_value[$name]=$arg; done < <(_tbbpipe_options "$prog")

    local command='' i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --*=*) ;;
            -*) [[ ${takes_value[${words[i]}]-0} == 1 ]] && ((i++)) ;;
            *)
                command=${words[i]}
                break
                ;;
        esac
    done

    # The value of an option.
    case $prev in
        --compress) COMPREPLY=($(compgen -W 'lz4 lz4hc none' -- "$cur")); return ;;
        --cipher) COMPREPLY=($(compgen -W 'aes-256-gcm chacha20-poly1305' -- "$cur")); return ;;
        --hash) COMPREPLY=($(compgen -W 'xxh3 sha256 none' -- "$cur")); return ;;
        --scheduler) COMPREPLY=($(compgen -W 'fair fifo' -- "$cur")); return ;;
        --optimize)
            COMPREPLY=($(compgen -W 'throughput latency resources' -- "$cur"))
            return
            ;;
        --storage-type) COMPREPLY=($(compgen -W 'auto nvme ssd hdd' -- "$cur")); return ;;
        --chunk-size) COMPREPLY=($(compgen -W 'auto 128K 256K 1M 4M' -- "$cur")); return ;;
        --mode) COMPREPLY=($(compgen -W 'pack unpack' -- "$cur")); return ;;
        --plot) COMPREPLY=($(compgen -W 'png svg none' -- "$cur")); return ;;
        --stages)
            # A comma-separated list: complete its last element.
            local done_part=
            [[ $cur == *,* ]] && done_part=${cur%,*},
            COMPREPLY=($(compgen -P "$done_part" -W 'lz4 lz4hc deflate aes-256-gcm
                chacha20-poly1305 xxh3 sha256' -- "${cur##*,}"))
            compopt -o nospace
            return
            ;;
        --stage-plugin) _filedir so; return ;;
        --output-dir | --input | --out | --workdir) _filedir -d; return ;;
        --param)
            # tbbpipe-lab sweeps tbbpipe's options that take a value: NAME=V1,V2,...
            local tbbpipe=${prog%/*}/tbbpipe
            [[ $prog == */* && -x $tbbpipe ]] || tbbpipe=tbbpipe
            COMPREPLY=($(compgen -S = -W "$(_tbbpipe_options "$tbbpipe" pack |
                while read -r name arg; do
                    [[ $arg == 1 && $name == --* ]] && printf '%s\n' "${name#--}"
                done)" -- "$cur"))
            compopt -o nospace
            return
            ;;
    esac
    if [[ ${takes_value[$prev]-0} == 1 ]]; then
        _filedir  # a file, a size, a number: files are the only thing worth offering
        return
    fi
    $split && return

    if [[ $cur == -* ]]; then
        # The command's own options once it is known (`tbbpipe pack --help`), else (no command
        # yet, or one the program does not know) all of them.
        local options
        [[ -n $command && $command != help ]] &&
            options=$(_tbbpipe_options "$prog" "$command")
        [[ -n ${options-} ]] || options=$(_tbbpipe_options "$prog")
        COMPREPLY=($(compgen -W "$(while read -r name arg; do
            [[ $name == --* ]] && printf '%s\n' "$name"
        done <<<"$options")" -- "$cur"))
        return
    fi
    if [[ -z $command ]]; then
        COMPREPLY=($(compgen -W "$(_tbbpipe_commands "$prog")" -- "$cur"))
        return
    fi
    case $command in
        help)
            # `tbbpipe help COMMAND`: one command's options.
            [[ $cword -eq $((i + 1)) ]] &&
                COMPREPLY=($(compgen -W "$(_tbbpipe_commands "$prog")" -- "$cur"))
            ;;
        unpack | verify | info)
            if [[ -z $lab ]]; then _filedir tbp; else _filedir; fi
            ;;
        keygen | sweep | compare | generate) ;;  # no file arguments
        *) _filedir ;;
    esac
} &&
    complete -F _tbbpipe tbbpipe tbbpipe-lab
