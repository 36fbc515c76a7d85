// Command ociimage writes a one-layer container image holding static
// binaries as a tar that both `ctr images import` and `docker load` read:
// docker's archive format (manifest.json, config and layer blobs). Not an
// OCI layout: containerd 1.6 then keeps the short name of the index's
// annotation (local/pause:1), while the CRI looks images up by their
// normalised name (docker.io/local/pause:1) and never finds them; from
// manifest.json's RepoTags it stores the normalised name. It is how the local node
// gets its system images (pause, CoreDNS, metrics-server, Traefik) without
// a registry or a Docker engine.
//
//	ociimage -name local/coredns:v1.15.0 -o coredns.tar -entrypoint /coredns coredns=/path/to/coredns
//
// The node test also uses it for the service images when no Docker engine
// built them (`make image`): the same binaries, CGO off, at the paths the
// Dockerfile uses.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	name := flag.String("name", "", "image reference, e.g. local/pause:1")
	out := flag.String("o", "", "output tar")
	entry := flag.String("entrypoint", "", "entrypoint path inside the image")
	user := flag.String("user", "65532:65532", "default user")
	flag.Parse()
	if *name == "" || *out == "" || *entry == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: ociimage -name REF -o OUT.tar -entrypoint PATH DEST=SRC...")
		os.Exit(2)
	}
	if err := run(*name, *out, *entry, *user, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run(name, out, entry, user string, files []string) error {
	epoch := time.Unix(0, 0).UTC()
	// The layer: the binaries at the root, plus an empty /tmp (1777).
	var layer bytes.Buffer
	zw := gzip.NewWriter(&layer)
	hasher := sha256.New() // diff ID: digest of the uncompressed tar
	tw := tar.NewWriter(&multiWriter{zw, hasher})
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: epoch}); err != nil {
		return err
	}
	dirs := map[string]bool{"tmp/": true}
	for _, f := range files {
		dest, src, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("%q: want DEST=SRC", f)
		}
		dest = strings.TrimPrefix(dest, "/")
		// Parent directories first (usr/, usr/local/, ...), each once.
		for i := range dest {
			if dest[i] != '/' || dirs[dest[:i+1]] {
				continue
			}
			dirs[dest[:i+1]] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dest[:i+1], Mode: 0o755, ModTime: epoch}); err != nil {
				return err
			}
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: dest, Mode: 0o755, Size: int64(len(data)), ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	diffID := "sha256:" + hex.EncodeToString(hasher.Sum(nil))
	layerDigest := digest(layer.Bytes())

	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      epoch.Format(time.RFC3339),
		"config":       map[string]any{"Entrypoint": []string{entry}, "User": user, "WorkingDir": "/tmp"},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history":      []map[string]any{{"created": epoch.Format(time.RFC3339), "created_by": "hack/kube/cmd/ociimage"}},
	})
	blob := func(d string) string { return "blobs/sha256/" + strings.TrimPrefix(d, "sha256:") }
	dockerManifest, _ := json.Marshal([]map[string]any{{
		"Config": blob(digest(config)), "RepoTags": []string{name}, "Layers": []string{blob(layerDigest)},
	}})

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	ow := tar.NewWriter(f)
	entries := []struct {
		name string
		data []byte
	}{
		{"manifest.json", dockerManifest},
		{blob(digest(config)), config},
		{blob(layerDigest), layer.Bytes()},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := ow.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	for _, e := range entries {
		if err := ow.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: epoch}); err != nil {
			return err
		}
		if _, err := ow.Write(e.data); err != nil {
			return err
		}
	}
	if err := ow.Close(); err != nil {
		return err
	}
	return f.Close()
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

type multiWriter struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (m *multiWriter) Write(p []byte) (int, error) {
	if n, err := m.a.Write(p); err != nil {
		return n, err
	}
	return m.b.Write(p)
}
