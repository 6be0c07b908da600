package image

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Stage is one stage of a Dockerfile: its FROM and the instructions after it.
type Stage struct {
	// From is the base image reference; Name the stage's `AS` name ("" if none).
	From string
	Name string
	// Line is the FROM's line number.
	Line         int
	Instructions []Instruction
}

// Instruction is one Dockerfile instruction, continuation lines joined.
type Instruction struct {
	Line int
	// Cmd is upper-case: "COPY", "USER", ...
	Cmd string
	// Args is the rest of the instruction, trimmed.
	Args string
}

var directiveRE = regexp.MustCompile(`^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`)

// ParseDockerfile splits a Dockerfile into stages. It knows the syntax's
// lines (comments, parser directives, backslash continuations), not the
// meaning of instructions; an `escape` directive other than the backslash
// and heredocs are refused, so that nothing is silently misread.
func ParseDockerfile(data []byte) ([]Stage, error) {
	var (
		stages []Stage
		cont   strings.Builder
		start  int
		lineNo int
		// Parser directives come first, before any comment or instruction.
		directives = true
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		lineNo++
		raw := strings.TrimRight(sc.Text(), " \t\r")
		trimmed := strings.TrimSpace(raw)
		if directives {
			if m := directiveRE.FindStringSubmatch(trimmed); m != nil {
				if strings.EqualFold(m[1], "escape") && m[2] != `\` {
					return nil, fmt.Errorf("line %d: escape character %q is not supported (only the backslash)", lineNo, m[2])
				}
				continue
			}
			directives = false
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue // blank lines and comments, also inside a continuation
		}
		if cont.Len() == 0 {
			start = lineNo
		}
		if strings.HasSuffix(raw, `\`) {
			cont.WriteString(strings.TrimSuffix(raw, `\`))
			cont.WriteByte(' ')
			continue
		}
		cont.WriteString(raw)
		line := strings.TrimSpace(cont.String())
		cont.Reset()

		cmd, args, _ := strings.Cut(line, " ")
		ins := Instruction{Line: start, Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}
		if strings.Contains(ins.Args, "<<") && (ins.Cmd == "RUN" || ins.Cmd == "COPY" || ins.Cmd == "ADD") {
			return nil, fmt.Errorf("line %d: heredocs are not supported", start)
		}
		if ins.Cmd == "FROM" {
			st, err := parseFrom(ins)
			if err != nil {
				return nil, err
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if ins.Cmd == "ARG" {
				continue // an ARG before the first FROM only feeds FROM lines
			}
			return nil, fmt.Errorf("line %d: %s before the first FROM", start, ins.Cmd)
		}
		stages[len(stages)-1].Instructions = append(stages[len(stages)-1].Instructions, ins)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cont.Len() > 0 {
		return nil, fmt.Errorf("line %d: the file ends inside a continued instruction", start)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("no FROM instruction")
	}
	return stages, nil
}

// parseFrom reads `FROM [--platform=P] IMAGE [AS NAME]`.
func parseFrom(ins Instruction) (Stage, error) {
	words := strings.Fields(ins.Args)
	for len(words) > 0 && strings.HasPrefix(words[0], "--") {
		words = words[1:]
	}
	st := Stage{Line: ins.Line}
	switch {
	case len(words) == 1:
		st.From = words[0]
	case len(words) == 3 && strings.EqualFold(words[1], "AS"):
		st.From, st.Name = words[0], words[2]
	default:
		return Stage{}, fmt.Errorf("line %d: cannot read FROM %s", ins.Line, ins.Args)
	}
	return st, nil
}

// execForm reads the JSON (exec) form of ENTRYPOINT, CMD or COPY; ok is
// false for the shell form (anything that is not a JSON array of strings,
// as the Dockerfile frontend decides).
func execForm(args string) (words []string, ok bool) {
	if !strings.HasPrefix(args, "[") {
		return nil, false
	}
	if err := json.Unmarshal([]byte(args), &words); err != nil {
		return nil, false
	}
	return words, true
}

// splitWords splits shell-like words: blanks separate, single and double
// quotes group, a backslash escapes the next character (outside single
// quotes). Enough for COPY, EXPOSE, ENV and LABEL arguments.
func splitWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool
		quote rune
		esc   bool
	)
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\' && quote != '\'':
			esc, in = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 || esc {
		return nil, fmt.Errorf("unterminated quote or escape in %q", s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
