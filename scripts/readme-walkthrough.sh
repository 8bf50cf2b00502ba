#!/usr/bin/env bash
# README's first steps as a newcomer takes them: in a scratch clone of this
# repository (its committed HEAD), the "Try it" block, then the "Sign, then
# prove" blocks, in that order, and all of it a second time; each block's
# output must show what README shows beside it, line by line in order
# (times, timestamps, key ids, temporary paths and an installed `evtrail`
# for `cargo run --features cli --` aside; other lines may come between,
# such as the quickstart saying what it set aside).
#
#   scripts/readme-walkthrough.sh
#
# Builds go to this repository's target directory (CARGO_TARGET_DIR when
# set), so only evtrail itself is compiled for the clone.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git clone -q "$repo" "$scratch/evtrail"
clone="$scratch/evtrail"
readme="$clone/README.md"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
# A home of its own, so that the key README puts in ~/.config/evtrail is
# this run's; cargo and rustup keep theirs.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
export HOME="$scratch/home"
mkdir -p "$HOME"
unset EVTRAIL_DIR EVTRAIL_KEY_FILE
tmp=${TMPDIR:-/tmp}
tmp=${tmp%/}

# block SECTION LANG N: the Nth fenced block of LANG under the heading SECTION.
block() {
    awk -v sec="$1" -v lang="$2" -v want="$3" '
        /^```/ {
            if (!fence) {
                fence = 1
                if (insec && substr($0, 4) == lang && ++n == want) printing = 1
            } else {
                fence = 0
                if (printing) exit
            }
            next
        }
        !fence && /^#+ / { h = $0; sub(/^#+ /, "", h); insec = (h == sec); next }
        printing { print }
    ' "$readme"
}

normalize() {
    sed -E \
        -e "s#${tmp}/#/tmp/#g" \
        -e "s#${HOME}/#~/#g" \
        -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z/<timestamp>/g' \
        -e 's/[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}/<time>/g' \
        -e 's/k[0-9a-f]{16}/<kid>/g' \
        -e 's/^  evtrail verify /  cargo run --features cli -- verify /' \
        -e 's/[[:space:]]+$//'
}

# shows EXPECTED_TEXT OUTPUT_FILE WHAT: every non-empty line of the text,
# in order, is a line of the output.
shows() {
    local expected=$1 output=$2 what=$3 i=0 line
    local -a got
    mapfile -t got < <(normalize <"$output")
    while IFS= read -r line; do
        [[ -z "$line" ]] && continue
        while ((i < ${#got[@]})) && [[ "${got[i]}" != "$line" ]]; do i=$((i + 1)); done
        if ((i == ${#got[@]})); then
            printf 'FAILED: %s does not show, in order, what README shows.\nmissing: %s\n--- README\n%s\n--- output\n' \
                "$what" "$line" "$(normalize <<<"$expected")"
            printf '%s\n' "${got[@]}"
            return 1
        fi
        i=$((i + 1))
    done < <(normalize <<<"$expected")
}

# run WHAT STATUS SCRIPT OUTPUT_FILE: runs the block in the clone, expecting STATUS.
run() {
    local what=$1 status=$2 script=$3 out=$4 got=0
    [[ -n "$script" ]] || { echo "FAILED: README has no $what block"; return 1; }
    printf -- '--- %s\n%s\n' "$what" "$script"
    (cd "$clone" && bash -euo pipefail -c "$script") >"$out" 2>"$out.err" || got=$?
    if [[ $got != "$status" ]]; then
        echo "FAILED: $what exited with $got, not $status"
        cat "$out" "$out.err"
        return 1
    fi
}

try=$(block "Try it" sh 1)
sign=$(block "Sign, then prove" sh 1)
tamper=$(block "Sign, then prove" sh 2)
for pass in 1 2; do
    echo "=== pass $pass"
    out="$scratch/out"
    run "Try it" 0 "$try" "$out"
    shows "$(block "Try it" text 1)" "$out" "Try it (pass $pass)"
    if [[ $pass == 2 ]]; then
        grep -q 'signed with another key .*moved its logs to evtrail-demo/set-aside/' "$out" || {
            echo "FAILED: the second run does not say it set the signed logs aside"
            cat "$out"
            exit 1
        }
    fi
    run "Sign, then prove" 0 "$sign" "$out"
    shows "$(block "Sign, then prove" text 1)" "$out" "Sign, then prove (pass $pass)"
    [[ $(tail -n 1 "$out") == "OK: no evidence of tampering" ]] || {
        echo "FAILED: verify does not end with OK"
        cat "$out"
        exit 1
    }
    run "Sign, then prove: tampering" 1 "$tamper" "$out"
    shows "$(block "Sign, then prove" text 2)" "$out" "tampering (pass $pass)"
done
echo "README walkthrough: Try it, Sign then prove, tampering: twice, as README shows"
