package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"testing"
	"time"
)

func testEntries() []Entry {
	return []Entry{
		{Path: "usr/local/bin/app", Kind: File, Mode: 0o755, Data: []byte("#binary")},
		{Path: "vapp", Kind: Hardlink, Mode: 0o755, Target: "usr/local/bin/app"},
		{Path: "etc/passwd", Kind: File, Mode: 0o644, Data: []byte("root:x:0:0::/root:/sbin/nologin\n")},
		{Path: "home/nonroot", Kind: Dir, Mode: 0o700, UID: 65532, GID: 65532},
		{Path: "tmp", Kind: Dir, Mode: 0o777 | fs.ModeSticky},
		{Path: "bin/ls", Kind: Symlink, Mode: 0o777, Target: "/bin/busybox"},
	}
}

func TestBuildLayerDeterministic(t *testing.T) {
	for _, compress := range []bool{true, false} {
		a, err := BuildLayer(testEntries(), compress)
		if err != nil {
			t.Fatal(err)
		}
		// The same entries in another order give the same bytes.
		e := testEntries()
		e[0], e[2] = e[2], e[0]
		b, err := BuildLayer(e, compress)
		if err != nil {
			t.Fatal(err)
		}
		if a.Digest != b.Digest || a.DiffID != b.DiffID {
			t.Errorf("compress=%v: two builds differ: %s/%s and %s/%s", compress, a.Digest, a.DiffID, b.Digest, b.DiffID)
		}
		if compress == (a.MediaType == MediaTypeLayer) {
			t.Errorf("compress=%v: media type %s", compress, a.MediaType)
		}
		if !compress && a.Digest != a.DiffID {
			t.Errorf("uncompressed layer: digest %s != diffID %s", a.Digest, a.DiffID)
		}
	}
}

func TestBuildLayerEntries(t *testing.T) {
	l, err := BuildLayer(testEntries(), true)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(l.Blob))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() || zr.Comment != "" {
		t.Errorf("gzip header: name %q, mtime %v, comment %q; want all empty", zr.Name, zr.ModTime, zr.Comment)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if Digest(raw) != l.DiffID {
		t.Errorf("diffID %s, tar digest %s", l.DiffID, Digest(raw))
	}
	type entry struct {
		name     string
		typ      byte
		mode     int64
		uid, gid int
		link     string
		size     int64
	}
	want := []entry{
		{"bin/", tar.TypeDir, 0o755, 0, 0, "", 0},
		{"bin/ls", tar.TypeSymlink, 0o777, 0, 0, "/bin/busybox", 0},
		{"etc/", tar.TypeDir, 0o755, 0, 0, "", 0},
		{"etc/passwd", tar.TypeReg, 0o644, 0, 0, "", 32},
		{"home/", tar.TypeDir, 0o755, 0, 0, "", 0},
		{"home/nonroot/", tar.TypeDir, 0o700, 65532, 65532, "", 0},
		{"tmp/", tar.TypeDir, 0o1777, 0, 0, "", 0},
		{"usr/", tar.TypeDir, 0o755, 0, 0, "", 0},
		{"usr/local/", tar.TypeDir, 0o755, 0, 0, "", 0},
		{"usr/local/bin/", tar.TypeDir, 0o755, 0, 0, "", 0},
		{"usr/local/bin/app", tar.TypeReg, 0o755, 0, 0, "", 7},
		{"vapp", tar.TypeLink, 0o755, 0, 0, "usr/local/bin/app", 0},
	}
	tr := tar.NewReader(bytes.NewReader(raw))
	var got []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(time.Unix(0, 0)) || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: mtime %v, owner names %q/%q; want epoch and none", h.Name, h.ModTime, h.Uname, h.Gname)
		}
		got = append(got, entry{h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Linkname, h.Size})
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestBuildLayerInvalid(t *testing.T) {
	tests := []struct {
		name  string
		entry []Entry
	}{
		{"absolute path", []Entry{{Path: "/etc/passwd", Kind: File, Mode: 0o644}}},
		{"dot dot", []Entry{{Path: "../x", Kind: File, Mode: 0o644}}},
		{"unclean", []Entry{{Path: "a//b", Kind: File, Mode: 0o644}}},
		{"empty path", []Entry{{Kind: Dir, Mode: 0o755}}},
		{"type bits in mode", []Entry{{Path: "d", Kind: Dir, Mode: fs.ModeDir | 0o755}}},
		{"negative owner", []Entry{{Path: "f", Kind: File, UID: -1}}},
		{"symlink without target", []Entry{{Path: "l", Kind: Symlink}}},
		{"file with target", []Entry{{Path: "f", Kind: File, Target: "x"}}},
		{"dir with data", []Entry{{Path: "d", Kind: Dir, Data: []byte("x")}}},
		{"unknown kind", []Entry{{Path: "f", Kind: Kind(9)}}},
		{"duplicate", []Entry{{Path: "f", Kind: File}, {Path: "f", Kind: File}}},
		{"file as parent", []Entry{{Path: "f", Kind: File}, {Path: "f/g", Kind: File}}},
		{"hard link to missing file", []Entry{{Path: "l", Kind: Hardlink, Target: "nope"}}},
		{"hard link before its target", []Entry{{Path: "z", Kind: File}, {Path: "a", Kind: Hardlink, Target: "z"}}},
		{"hard link to a directory", []Entry{{Path: "d", Kind: Dir}, {Path: "l", Kind: Hardlink, Target: "d"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BuildLayer(tt.entry, true)
			if !errors.Is(err, ErrInvalidEntry) {
				t.Errorf("got %v, want ErrInvalidEntry", err)
			}
		})
	}
}
