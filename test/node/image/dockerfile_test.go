package image

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDockerfile(t *testing.T) {
	src := `# syntax=docker/dockerfile:1
# escape=\
ARG GO=1.27
# a comment
FROM --platform=$BUILDPLATFORM golang:${GO} AS build
RUN go build \
    # a comment inside the continuation

    -o /out .

from gcr.io/distroless/static:nonroot
copy --from=build /out /out
ENTRYPOINT ["/out"]
`
	stages, err := ParseDockerfile([]byte(src))
	require.NoError(t, err)
	require.Len(t, stages, 2)
	assert.Equal(t, Stage{From: "golang:${GO}", Name: "build", Line: 5, Instructions: []Instruction{
		{Line: 6, Cmd: "RUN", Args: "go build      -o /out ."},
	}}, stages[0])
	assert.Equal(t, Stage{From: "gcr.io/distroless/static:nonroot", Line: 11, Instructions: []Instruction{
		{Line: 12, Cmd: "COPY", Args: "--from=build /out /out"},
		{Line: 13, Cmd: "ENTRYPOINT", Args: `["/out"]`},
	}}, stages[1])
}

func TestParseDockerfileRefuses(t *testing.T) {
	tests := map[string]struct{ src, want string }{
		"another escape":    {"# escape=`\nFROM scratch\n", "escape character \"`\" is not supported"},
		"heredoc":           {"FROM scratch\nCOPY <<EOF /x\nhi\nEOF\n", "line 2: heredocs are not supported"},
		"no FROM":           {"# nothing\n", "no FROM instruction"},
		"before FROM":       {"RUN true\nFROM scratch\n", "line 1: RUN before the first FROM"},
		"open continuation": {"FROM scratch\nUSER 1 \\\n", "line 2: the file ends inside a continued instruction"},
		"bad FROM":          {"FROM a b c d\n", "line 1: cannot read FROM a b c d"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseDockerfile([]byte(tt.src))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "a b\tc", want: []string{"a", "b", "c"}},
		{in: `A="x y" B='$z' C=a\ b`, want: []string{"A=x y", "B=$z", "C=a b"}},
		{in: `""`, want: []string{""}},
		{in: "  ", want: nil},
		{in: `"open`, wantErr: true},
		{in: `trailing\`, wantErr: true},
	}
	for _, tt := range tests {
		got, err := splitWords(tt.in)
		if tt.wantErr {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestCommandForms(t *testing.T) {
	assert.Equal(t, []string{"/a", "-b"}, command(`["/a", "-b"]`))
	assert.Equal(t, []string{"/bin/sh", "-c", "/a -b"}, command("/a -b"))
	assert.Equal(t, []string{"/bin/sh", "-c", "[not json"}, command("[not json"), "not JSON: the shell form, as the frontend reads it")
}

// FuzzParseDockerfile: any input gives stages or an error, never a panic,
// and Expect on what it parses does not panic either.
func FuzzParseDockerfile(f *testing.F) {
	f.Add([]byte("FROM gcr.io/distroless/static:nonroot\nCOPY --from=0 /src/catops-k8s /\nUSER 1\nENTRYPOINT [\"/catops-k8s\"]\n"))
	f.Add([]byte("FROM a AS b\nFROM gcr.io/distroless/static:nonroot\nCOPY --from=b /src/catops-k8s /src/catops-k8s-cluster /bin/\nENTRYPOINT [\"/bin/catops-k8s\"]\n"))
	f.Add([]byte("# escape=\\\nFROM a AS b\nENV A=1 B=\"$A\"\nLABEL x y\nEXPOSE 1/udp\nWORKDIR rel\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		stages, err := ParseDockerfile(data)
		if err != nil {
			return
		}
		require.NotEmpty(t, stages)
		base := Distroless(nil)
		base.Ref = stages[len(stages)-1].From
		_, _ = Expect(stages, base)
	})
}
