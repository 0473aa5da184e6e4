#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Bash completion (user/completion/kvmtrust) against the tables the CLI
# parses: it is sourced in a bash with bash-completion, COMP_WORDS and
# COMP_CWORD are set as bash sets them, and what _kvmtrust offers is compared
# with the group table, each group's usage and every getopt_long table in
# user/cli/. A new group, subcommand or option that completion does not
# offer, or an option value it cannot classify, fails here.
set -u
cd "$(dirname "$0")/../.." || exit 1
. scripts/lib/tap.sh

ROOT=$PWD
KT=$ROOT/user/kvmtrust
SCRIPT=$ROOT/user/completion/kvmtrust
BC=/usr/share/bash-completion/bash_completion

tap_plan 15
tap_workdir kt-completion

if [ ! -r "$BC" ]; then
	for i in $(seq 15); do tap_skip "completion $i" "bash-completion is not installed (scripts/setup)"; done
	exit 0
fi
. "$BC"
. "$SCRIPT"

# comp WORD...: what completion offers with the cursor at the end of the
# last WORD ("" for a new word), sorted, one a line.
comp() {
	COMP_WORDS=("$KT" "$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="${COMP_WORDS[*]}"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_kvmtrust kvmtrust "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null
	[ ${#COMPREPLY[@]} -eq 0 ] || printf '%s\n' "${COMPREPLY[@]}" | sort
}
words() { printf '%s\n' "$@" | sort; }

# Every command: a group without subcommands (and the subcommand it may
# take all the same, measure prove), a group and a subcommand, or (ledger
# prove) one of the fixed words the subcommand takes first.
commands=()
for g in $("$KT" __complete); do
	subs=$("$KT" __complete "$g")
	if [[ $subs == --* ]]; then
		commands+=("$g")
		for w in $(_kvmtrust_words "$g"); do commands+=("$g $w"); done
		continue
	fi
	for s in $subs; do
		fixed=$(_kvmtrust_words "$g" "$s")
		if [ "$g $s" = "ledger prove" ]; then
			for w in $fixed; do commands+=("$g $s $w"); done
		else
			commands+=("$g $s")
		fi
	done
done

# 1-4: the sample positions.
tap_is "top level: the groups" "$(comp "")" \
	"$(words info vm measure ca token handshake ledger evidence score tpm attest verify config \
		launch grant migrate daemon snapshot rollback policy)"
tap_is "kvmtrust ledger: its subcommands" "$(comp ledger "")" \
	"$(words init append register get head prove verify batch integrate provenance)"
tap_is "kvmtrust grant issue --: grant issue's option table" "$(comp grant issue --)" \
	"$(words --key --cert --host-ca --delegate --delegate-key --region --site --allow-host \
		--deny-host --id --not-before --not-after --days --pid --uuid --domain --output --help)"
tap_is "kvmtrust ca issue: the kinds it issues" "$(comp ca issue "")" "$(words ca host user)"

# 5: the groups offered are the group table's, each with its usage; the
# subcommands offered are those the group's usage names.
bad=""
for g in $(comp ""); do
	usage=$("$KT" "$g" --help | sed -n "s/^\(Usage:\)\{0,1\} *[^ ]*kvmtrust $g \([a-z][a-z-]*\).*/\2/p" | sort -u)
	offered=$(comp "$g" "")
	[[ $("$KT" __complete "$g") == --* ]] && offered=$(words $(_kvmtrust_words "$g"))
	[ "$offered" = "$usage" ] || bad="$bad $g:[${offered//$'\n'/ }]/usage:[${usage//$'\n'/ }]"
done
tap_is "every group's subcommands are those its usage names" "$bad" ""

# 6: each command's options offered are exactly its table's (what the
# parser's first cli_getopt() call holds), at "--" and at a prefix.
bad=""
for c in "${commands[@]}"; do
	read -ra path <<<"$c"
	table=$("$KT" __complete "${path[@]}" | sed 's/=$//' | sort)
	[ -n "$table" ] || bad="$bad [$c: no table]"
	[ "$(comp "${path[@]}" --)" = "$table" ] || bad="$bad [$c]"
	[ "$(comp "${path[@]}" --he)" = "--help" ] || bad="$bad [$c --he]"
done
tap_is "every command's options (${#commands[@]} commands) are its option table" "$bad" ""

# 7: the options offered over all commands are every long option declared in
# user/cli/ (so no table is out of completion's reach).
offered=$(for c in "${commands[@]}"; do read -ra path <<<"$c"; comp "${path[@]}" --; done |
	sed 's/^--//' | sort -u)
declared=$(grep -ho '{ "[a-z-]*", *\(no\|required\|optional\)_argument' "$ROOT"/user/cli/*.[ch] |
	sed 's/{ "\([a-z-]*\)".*/\1/' | sort -u)
tap_is "the options offered are all those user/cli/ declares" "$offered" "$declared"

# 8: every option that takes a value says what the value is.
bad=""
for c in "${commands[@]}"; do
	read -ra path <<<"$c"
	for o in $("$KT" __complete "${path[@]}" | sed -n 's/=$//p'); do
		[ "$(_kvmtrust_value "${path[0]}" "$o")" = unknown ] && bad="$bad $c:$o"
	done
done
tap_is "every option that takes a value is classified in the completion script" "$bad" ""

# 9-11: values: fixed lists as the CLI accepts them, files and directories.
tap_is "ledger append --result: pass fail" "$(comp ledger append --result "")" "$(words pass fail)"
reasons=$(sed -n '/reasons\[\] = {/,/};/p' "$ROOT/user/lib/identity/pki_crl.c" | grep -o '"[A-Za-z]*"' |
	tr -d '"' | sort)
tap_is "ca revoke --reason: pki_crl.c's reasons" "$(comp ca revoke --reason "")" "$reasons"
mkdir -p sub && touch sub/grant.json
tap_is "files and directories: --output=, --key-dir" \
	"$(comp grant issue --output=sub/ && comp tpm init --key-dir s)" \
	"$(printf 'sub/grant.json\nsub\n')"

# 12: the fixed words offered are those the usage texts give.
bad=""
for spec in "ca issue:ca|host|user" "ca verify --kind:root|ca|host|user" \
	"verify --kind:vm-state or launch-config" "ledger append --result:pass|fail"; do
	read -ra path <<<"${spec%%:*}"
	spelled=${spec#*:}
	want=$(tr '|' '\n' <<<"${spelled// or /|}" | sort)
	"$KT" "${path[0]}" --help | grep -qF -- "$spelled" || bad="$bad [usage lacks $spelled]"
	[ "$(comp "${path[@]}" "")" = "$want" ] || bad="$bad [${spec%%:*}]"
done
for w in $(comp ledger append ""); do
	"$KT" ledger --help | grep -qE -- "ledger append $w( |$)" || bad="$bad [ledger append $w]"
done
for w in $(comp ledger prove ""); do
	"$KT" ledger --help | grep -qE -- "ledger prove $w " || bad="$bad [ledger prove $w]"
done
tap_is "fixed words are the usage's" "$bad" ""

# 13-14: the hidden entry point refuses what is not a command, printing
# nothing to offer.
tap_is "__complete of an unknown group: exit 3, nothing offered" \
	"$("$KT" __complete nosuch 2>/dev/null; echo "rc=$?")" "rc=3"
tap_is "__complete of an unknown subcommand: exit 3, nothing offered" \
	"$("$KT" __complete ledger nosuch 2>/dev/null; echo "rc=$?")" "rc=3"

# 15: make install puts the script where bash-completion loads it from.
out=$(make -s -C "$ROOT/user" install DESTDIR="$dir/root" PREFIX=/usr 2>&1)
tap_ok "make install: /usr/share/bash-completion/completions/kvmtrust" \
	cmp "$SCRIPT" "$dir/root/usr/share/bash-completion/completions/kvmtrust" ||
	printf '%s\n' "$out" | tap_diag

tap_done
