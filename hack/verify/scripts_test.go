package verify

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestShellScripts: every shell script in the repository passes `bash -n`,
// and shellcheck when it is installed.
func TestShellScripts(t *testing.T) {
	root := repoRoot(t)
	var scripts []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".data", ".docker", ".tools", "node_modules", "bin":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".sh") || isBashScript(path) {
			scripts = append(scripts, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) == 0 {
		t.Fatal("no shell scripts found")
	}
	shellcheck, _ := exec.LookPath("shellcheck")
	if shellcheck == "" {
		t.Log("shellcheck not installed: bash -n only")
	}
	for _, s := range scripts {
		rel, _ := filepath.Rel(root, s)
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", rel, err, out)
		}
	}
	if shellcheck != "" {
		// One run over all scripts: a process per script costs seconds.
		args := []string{"-x"}
		for _, s := range scripts {
			rel, _ := filepath.Rel(root, s)
			args = append(args, rel)
		}
		cmd := exec.Command(shellcheck, args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("shellcheck: %v\n%s", err, out)
		}
	}
	t.Logf("%d scripts checked", len(scripts))
}

// isBashScript reports an extension-less file starting with a bash/sh shebang.
func isBashScript(path string) bool {
	if filepath.Ext(path) != "" {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 64)
	n, _ := f.Read(head)
	line := string(head[:n])
	return strings.HasPrefix(line, "#!/usr/bin/env bash") || strings.HasPrefix(line, "#!/bin/bash") || strings.HasPrefix(line, "#!/bin/sh")
}
