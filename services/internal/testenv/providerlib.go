package testenv

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The provider libraries (providerlib/package.json, pinned by its lock):
// tests sign webhook deliveries with each provider's own npm package and
// verify stored ones with it, so a preset is never checked only against our
// own signer.
var (
	//go:embed providerlib/package.json
	libPackage []byte
	//go:embed providerlib/package-lock.json
	libLock []byte
	//go:embed providerlib/sign.mjs
	libScript []byte

	libOnce sync.Once
	libDir  string
	libErr  error
)

// providerLibDir installs the packages once per lock file into the user's
// cache directory (npm ci; node_modules never enters the repository) and
// writes the script next to them. npm missing is a failure, never a skip:
// hack/testenv.sh up installs it.
func providerLibDir() (string, error) {
	libOnce.Do(func() {
		if _, err := exec.LookPath("node"); err != nil {
			libErr = fmt.Errorf("node is required by the provider tests (hack/testenv.sh up installs nodejs and npm): %w", err)
			return
		}
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		sum := sha256.Sum256(append(append([]byte(nil), libPackage...), libLock...))
		dir := filepath.Join(cache, "webhook-ingestor", "providerlib-"+hex.EncodeToString(sum[:8]))
		if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err != nil {
			if _, err := exec.LookPath("npm"); err != nil {
				libErr = fmt.Errorf("npm is required by the provider tests (hack/testenv.sh up installs it): %w", err)
				return
			}
			tmp := dir + ".tmp-" + strconv.Itoa(os.Getpid())
			_ = os.RemoveAll(tmp)
			if err := os.MkdirAll(tmp, 0o755); err != nil {
				libErr = err
				return
			}
			for name, b := range map[string][]byte{"package.json": libPackage, "package-lock.json": libLock} {
				if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
					libErr = err
					return
				}
			}
			cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
			cmd.Dir = tmp
			if out, err := cmd.CombinedOutput(); err != nil {
				libErr = fmt.Errorf("npm ci for the provider libraries: %v\n%s", err, out)
				return
			}
			if err := os.Rename(tmp, dir); err != nil {
				_ = os.RemoveAll(tmp)
				if _, statErr := os.Stat(filepath.Join(dir, "node_modules")); statErr != nil { // not another process's
					libErr = err
					return
				}
			}
		}
		scriptSum := sha256.Sum256(libScript)
		script := filepath.Join(dir, "sign-"+hex.EncodeToString(scriptSum[:6])+".mjs")
		if _, err := os.Stat(script); err != nil {
			tmp := script + ".tmp-" + strconv.Itoa(os.Getpid())
			if err := os.WriteFile(tmp, libScript, 0o644); err != nil {
				libErr = err
				return
			}
			if err := os.Rename(tmp, script); err != nil {
				libErr = err
				return
			}
		}
		libDir = script
	})
	return libDir, libErr
}

// ProviderLib runs op ("sign", "verify" or "keys") over cases with the
// providers' own libraries and decodes one result per case into out (a
// pointer to a slice).
func ProviderLib(t testing.TB, op string, cases []map[string]any, out any) {
	t.Helper()
	script, err := providerLibDir()
	if err != nil {
		t.Fatal(err)
	}
	in, err := json.Marshal(map[string]any{"op": op, "cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", op, err, stderr.String())
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("node %s output %q: %v", op, b, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Logf("node %s took %s", op, d)
	}
}
