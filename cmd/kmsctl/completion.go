package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Shell completion. "kmsctl completion bash|zsh|fish" prints a script for
// the shell to load; the script asks kmsctl itself for the candidates
// ("kmsctl __complete WORD... CURRENT"), so it always knows the commands
// and flags of the kmsctl it runs.

const completionUsage = `Usage: kmsctl completion bash|zsh|fish

Prints a shell script that completes kmsctl's commands, subcommands and
flags (and the values of --output). Load it from your shell's start-up file:

  bash:  source <(kmsctl completion bash)        (in ~/.bashrc)
  zsh:   source <(kmsctl completion zsh)         (in ~/.zshrc)
  fish:  kmsctl completion fish | source         (in ~/.config/fish/config.fish)
`

const bashCompletion = `# kmsctl completion for bash: source <(kmsctl completion bash)
_kmsctl() {
	local cur=${COMP_WORDS[COMP_CWORD]}
	local IFS=$'\n'
	COMPREPLY=($(kmsctl __complete "${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" 2>/dev/null))
	if [[ ${#COMPREPLY[@]} -eq 0 ]]; then
		compopt -o default 2>/dev/null
	fi
}
complete -F _kmsctl kmsctl
`

const zshCompletion = `# kmsctl completion for zsh: source <(kmsctl completion zsh)
autoload -U +X bashcompinit && bashcompinit
` + bashCompletion

const fishCompletion = `# kmsctl completion for fish: kmsctl completion fish | source
complete -c kmsctl -f -a '(kmsctl __complete (commandline -opc)[2..-1] (commandline -ct))'
`

// completionScript implements "kmsctl completion SHELL".
func completionScript(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 {
		switch args[0] {
		case "bash":
			fmt.Fprint(stdout, bashCompletion)
			return exitOK
		case "zsh":
			fmt.Fprint(stdout, zshCompletion)
			return exitOK
		case "fish":
			fmt.Fprint(stdout, fishCompletion)
			return exitOK
		case "help", "--help", "-h":
			fmt.Fprint(stdout, completionUsage)
			return exitOK
		}
	}
	fmt.Fprint(stderr, completionUsage)
	return exitUsage
}

// complete prints, one per line, the candidates for the last of args (the
// word being typed, maybe empty) after the words before it.
func complete(args []string, stdout io.Writer) int {
	if len(args) == 0 {
		args = []string{""}
	}
	done, cur := args[:len(args)-1], args[len(args)-1]
	for _, c := range candidates(done, cur) {
		fmt.Fprintln(stdout, c)
	}
	return exitOK
}

func candidates(done []string, cur string) []string {
	// The value of a flag?
	if n := len(done); n > 0 && strings.HasPrefix(done[n-1], "--") && !strings.Contains(done[n-1], "=") {
		if spec, ok := flagOf(commandOf(done), strings.TrimPrefix(done[n-1], "--")); ok && spec.kind != kindBool {
			if spec.name == "output" {
				return withPrefix([]string{"json", "text"}, cur)
			}
			return nil // a value: left to the shell (file names)
		}
	}
	cmd := commandOf(done)
	if cmd != nil {
		if !strings.HasPrefix(cur, "-") && cur != "" {
			return nil
		}
		var names []string
		for _, f := range append(append([]flagSpec(nil), cmd.flags...), globalFlags...) {
			names = append(names, "--"+f.name)
		}
		return withPrefix(names, cur)
	}
	if strings.HasPrefix(cur, "-") {
		var names []string
		for _, f := range globalFlags {
			names = append(names, "--"+f.name)
		}
		return withPrefix(names, cur)
	}
	words := commandWords(done)
	var names []string
	switch {
	case len(words) == 0:
		seen := map[string]bool{"help": true, "version": true, "completion": true}
		for name := range commands {
			first, _, _ := strings.Cut(name, " ")
			seen[first] = true
		}
		for n := range seen {
			names = append(names, n)
		}
	case groups[strings.Join(words, " ")] != "":
		seen := map[string]bool{}
		for name := range commands {
			if sub, ok := strings.CutPrefix(name, strings.Join(words, " ")+" "); ok {
				sub, _, _ = strings.Cut(sub, " ")
				seen[sub] = true
			}
		}
		for n := range seen {
			names = append(names, n)
		}
	}
	return withPrefix(names, cur)
}

// commandWords returns the words of done that are not flags or their
// values.
func commandWords(done []string) []string {
	var words []string
	for i := 0; i < len(done); i++ {
		a := done[i]
		if strings.HasPrefix(a, "--") {
			if !strings.Contains(a, "=") && takesValue(strings.TrimPrefix(a, "--")) {
				i++
			}
			continue
		}
		words = append(words, a)
	}
	return words
}

// commandOf returns the command named in done, if it is complete.
func commandOf(done []string) *command {
	words := commandWords(done)
	for n := min(len(words), 3); n >= 1; n-- {
		if cmd := commands[strings.Join(words[:n], " ")]; cmd != nil {
			return cmd
		}
	}
	return nil
}

func flagOf(cmd *command, name string) (flagSpec, bool) {
	specs := globalFlags
	if cmd != nil {
		specs = append(append([]flagSpec(nil), cmd.flags...), globalFlags...)
	}
	for _, f := range specs {
		if f.name == name {
			return f, true
		}
	}
	return flagSpec{}, false
}

func withPrefix(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
