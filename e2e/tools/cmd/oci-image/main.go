// Command oci-image builds a container image from files on this machine, with
// no registry and no Docker engine, and writes it as an image tarball that
// `ctr images import` reads. go-containerregistry assembles the image (config,
// manifest, layer digests); the one layer is a tar of the files the spec
// names, owned by root, with their modes kept.
//
//	oci-image SPEC.json
//
// SPEC: {"out": "x.tar", "tag": "lab.local/x:1", "files": [{"src": "/abs/path", "dest": "/in/image", "mode": 493}],
//
//	"config": {"Entrypoint": [...], "Cmd": [...], "User": "65532:65532", "WorkingDir": "/app", "Env": [...], "ExposedPorts": {"8080/tcp": {}}}}
package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type file struct {
	Src  string `json:"src"`
	Dest string `json:"dest"`
	// Mode overrides the source's permission bits (e.g. 0o755 for a binary).
	Mode *int64 `json:"mode,omitempty"`
	// Content, when set, is written instead of reading Src.
	Content *string `json:"content,omitempty"`
}

type spec struct {
	Out    string    `json:"out"`
	Tag    string    `json:"tag"`
	Files  []file    `json:"files"`
	Config v1.Config `json:"config"`
}

// epoch keeps the layer's bytes, and so its digest, the same for the same files.
var epoch = time.Unix(0, 0)

func writeLayer(w io.Writer, files []file) error {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	sort.Slice(files, func(i, j int) bool { return files[i].Dest < files[j].Dest })
	for _, f := range files {
		dest := strings.TrimPrefix(path.Clean(f.Dest), "/")
		// Parent directories first, as a runtime unpacking the layer expects.
		parts := strings.Split(path.Dir(dest), "/")
		for i := range parts {
			d := strings.Join(parts[:i+1], "/")
			if d == "." || d == "" || dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return err
			}
		}
		var body []byte
		mode := int64(0o644)
		if f.Content != nil {
			body = []byte(*f.Content)
		} else {
			st, err := os.Stat(f.Src)
			if err != nil {
				return err
			}
			mode = int64(st.Mode().Perm())
			if body, err = os.ReadFile(f.Src); err != nil {
				return err
			}
		}
		if f.Mode != nil {
			mode = *f.Mode
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: dest, Mode: mode, Size: int64(len(body)), ModTime: epoch}); err != nil {
			return err
		}
		if _, err := tw.Write(body); err != nil {
			return err
		}
	}
	return tw.Close()
}

func build(s spec) error {
	tmp, err := os.CreateTemp("", "layer-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := writeLayer(tmp, s.Files); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	layer, err := tarball.LayerFromFile(tmp.Name())
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: epoch}
	cf.Config = s.Config
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	ref, err := name.NewTag(s.Tag)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(s.Out, ref, img)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: oci-image SPEC.json")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err == nil {
		var s spec
		if err = json.Unmarshal(raw, &s); err == nil {
			err = build(s)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "oci-image:", err)
		os.Exit(1)
	}
}
