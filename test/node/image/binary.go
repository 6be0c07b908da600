package image

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
)

// Binary is a static Linux executable read from disk.
type Binary struct {
	Data []byte
	// Arch is the GOARCH the ELF header says ("amd64", "arm64").
	Arch string
}

// ReadBinary reads file and checks that it is a Linux ELF executable that
// needs no dynamic loader: the images have no libc, and a dynamic binary
// would fail to start with a puzzling "no such file or directory".
func ReadBinary(file string) (Binary, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return Binary{}, err
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return Binary{}, fmt.Errorf("%s is not an ELF executable: %w", file, err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return Binary{}, fmt.Errorf("%s is an ELF %s, not an executable", file, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return Binary{}, fmt.Errorf("%s is dynamically linked: build it with CGO_ENABLED=0 (the images have no libc)", file)
		}
	}
	arch, ok := goarch(f)
	if !ok {
		return Binary{}, fmt.Errorf("%s: no GOARCH for ELF machine %s", file, f.Machine)
	}
	return Binary{Data: data, Arch: arch}, nil
}

func goarch(f *elf.File) (string, bool) {
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", true
	case elf.EM_AARCH64:
		return "arm64", true
	case elf.EM_386:
		return "386", true
	case elf.EM_ARM:
		return "arm", true
	case elf.EM_PPC64:
		if f.Data == elf.ELFDATA2LSB {
			return "ppc64le", true
		}
		return "ppc64", true
	case elf.EM_S390:
		return "s390x", true
	case elf.EM_RISCV:
		return "riscv64", true
	}
	return "", false
}
